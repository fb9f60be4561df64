#!/usr/bin/env bash
# Install with the test extras, install what the UI test needs (Debian's chromium), run pytest.
source "$(dirname "$0")/bootstrap.sh" test
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
      || echo "warning: could not install chromium; the browser test will fail" >&2
  else
    echo "warning: chromium is not installed (sudo apt-get install chromium); the browser test will fail" >&2
  fi
fi
exec python -m pytest -n "${PYTEST_WORKERS:-2}" "$@"
