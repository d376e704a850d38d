#!/usr/bin/env bash
# Install headless Chromium for the browser tests (tests/course/test_browser.py)
# when it is missing: Debian's `chromium` package, with apt-get. Idempotent.
set -euo pipefail
for name in chromium chromium-browser google-chrome; do
  if command -v "$name" >/dev/null 2>&1; then
    echo "chromium: $(command -v "$name") ($("$name" --version 2>/dev/null || true))"
    exit 0
  fi
done
if ! command -v apt-get >/dev/null 2>&1; then
  echo "no chromium and no apt-get: install Chromium by hand; the browser tests skip" >&2
  exit 1
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
echo "chromium: $(command -v chromium) ($(chromium --version 2>/dev/null || true))"
