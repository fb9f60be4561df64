#!/usr/bin/env bash
# Install, generate sample ETL1 data (data/etl1/) and build every month into warehouse/.
source "$(dirname "$0")/bootstrap.sh"
exec etl3 demo "$@"
