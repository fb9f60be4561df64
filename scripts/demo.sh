#!/usr/bin/env bash
# Install, write sample raw extracts (data/raw/), apply them through ETL1 (data/etl1/) and build every month into warehouse/.
source "$(dirname "$0")/bootstrap.sh"
exec etl3 demo "$@"
