#!/usr/bin/env bash
# Rebuild the vendored age-encryption bundle used for browser-side sealing (static/js/seal.js).
#
#   tools/build-age-bundle.sh
#
# Reproducible: installs exactly the versions pinned in tools/age-bundle/package-lock.json (npm ci) in a
# temporary directory, bundles tools/age-bundle/entry.js with esbuild into ONE ES module file and writes
#   app/static/vendor/age-encryption/age-encryption.js   (the bundle, committed: no Node at run time)
#   app/static/vendor/age-encryption/LICENSE             (age-encryption's licence + bundled dependencies')
# To upgrade: edit the versions in tools/age-bundle/package.json, run `npm install --package-lock-only`
# there, rerun this script, update the README next to the bundle and rerun tests/bidding.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
src="$root/tools/age-bundle"
out="$root/app/static/vendor/age-encryption"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

cp "$src/package.json" "$src/package-lock.json" "$src/entry.js" "$work/"
cd "$work"
npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
# esbuild's binary comes from its platform package (@esbuild/<os>-<arch>); --ignore-scripts skips only
# the optional postinstall check.

version="$(node -p 'require("./node_modules/age-encryption/package.json").version')"
esbuild_version="$(node -p 'require("./node_modules/esbuild/package.json").version')"

mkdir -p "$out"
npx --no-install esbuild entry.js \
  --bundle --format=esm --platform=browser --target=es2022 \
  --minify --legal-comments=none --charset=utf8 \
  --banner:js="/*! age-encryption ${version} (https://github.com/FiloSottile/typage), BSD-3-Clause; bundled with esbuild ${esbuild_version} by tools/build-age-bundle.sh; licences: LICENSE next to this file */" \
  --outfile="$out/age-encryption.js"

# Licences: the library's own, then every package that ends up in the bundle.
{
  echo "The bundle age-encryption.js contains the following packages."
  for pkg in age-encryption $(node -e '
      const lock = require("./package-lock.json").packages;
      for (const [p, m] of Object.entries(lock))
        if (p.startsWith("node_modules/") && !m.dev && p !== "node_modules/age-encryption")
          console.log(p.slice("node_modules/".length));'); do
    meta="node_modules/$pkg/package.json"
    echo
    echo "================================================================================"
    echo "$pkg $(node -p "require('./$meta').version") — $(node -p "require('./$meta').license")"
    echo "================================================================================"
    lic="$(ls node_modules/"$pkg"/LICEN[CS]E* 2>/dev/null | head -n1 || true)"
    if [ -n "$lic" ]; then cat "$lic"; else echo "(no licence file in the package; licence: see above)"; fi
  done
} >"$out/LICENSE"

sha="$(sha256sum "$out/age-encryption.js" | cut -d' ' -f1)"
echo "age-encryption $version bundled with esbuild $esbuild_version"
echo "  $out/age-encryption.js  $(wc -c <"$out/age-encryption.js") bytes  sha256 $sha"
