#!/usr/bin/env bash
# What the test suite needs beyond Python packages, as Debian packages: the reference `age` tool (the sealed
# format must interoperate), Chromium and ChromeDriver (browser journeys), CJK fonts (pages are Chinese),
# nginx (the documented production front, in the abuse test).
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

[ ${#need[@]} -eq 0 ] && exit 0

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing system packages for the tests: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need[@]}" >/dev/null
  exit 0
fi
echo "The tests need these Debian packages: ${need[*]}" >&2
echo "Install them, then run make test again:" >&2
echo "    sudo apt-get update && sudo apt-get install -y ${need[*]}" >&2
exit 1
