#!/usr/bin/env bash
# What the tests need beyond the Python packages: Debian's Chromium for the browser test and
# tesseract-ocr for the OCR of scanned PDFs. Each is installed when run as root with apt-get;
# otherwise the tests that need it are skipped.
set -euo pipefail
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v tesseract >/dev/null 2>&1 || missing+=(tesseract-ocr)
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing ${missing[*]} for the tests..."
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null) \
      || echo "could not install ${missing[*]}: the tests that need them will be skipped"
  else
    echo "${missing[*]} not installed: the browser test and/or the OCR test will be skipped"
  fi
fi
