#!/usr/bin/env bash
# What the test suite needs beyond Python packages, as Debian packages: the reference `age` tool (the sealed
# format must interoperate), Chromium and ChromeDriver (browser journeys), CJK fonts (pages are Chinese),
# nginx (the documented production front, in the abuse test), Node.js and npm (they install axe-core, the
# accessibility rules the browser crawl injects into every page, from tests/js/package-lock.json).
# `make test` runs this first. As root with apt it installs what is missing; otherwise it prints the exact
# command and stops, so nothing is silently skipped.
set -euo pipefail

need=()
command -v age >/dev/null 2>&1 || need+=(age)
[ -x /usr/bin/chromium ] || need+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)
if ! { command -v fc-list >/dev/null 2>&1 && fc-list :lang=zh family 2>/dev/null | grep -q .; }; then
  need+=(fonts-noto-cjk)
fi
[ -x /usr/sbin/nginx ] || command -v nginx >/dev/null 2>&1 || need+=(nginx)
command -v node >/dev/null 2>&1 || need+=(nodejs)
command -v npm >/dev/null 2>&1 || need+=(npm)

# The JavaScript packages of the browser tests, exactly as locked, when missing or older than the lock.
js_packages() {
  local dir
  dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/tests/js"
  if [ ! -f "$dir/node_modules/.package-lock.json" ] || [ "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]; then
    echo "installing the JavaScript packages of the browser tests (npm ci in tests/js)"
    npm ci --prefix "$dir" --no-audit --no-fund --loglevel=error
  fi
}

if [ ${#need[@]} -eq 0 ]; then
  js_packages
  exit 0
fi

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing system packages for the tests: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need[@]}" >/dev/null
  js_packages
  exit 0
fi
echo "The tests need these Debian packages: ${need[*]}" >&2
echo "Install them, then run make test again:" >&2
echo "    sudo apt-get update && sudo apt-get install -y ${need[*]}" >&2
exit 1
