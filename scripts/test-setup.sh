#!/usr/bin/env bash
# What the tests need beyond the Python packages: Debian's Chromium for the browser test.
set -euo pipefail
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing chromium for the browser test..."
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
      || echo "could not install chromium: the browser test will be skipped"
  else
    echo "chromium is not installed: the browser test will be skipped"
  fi
fi
