#!/bin/sh
# Rebuild tally.js (served) from tally.src.js (readable) with terser from the npm registry.
# Run after editing tally.src.js:  sh src/tally/web/static/build.sh
set -eu
here=$(dirname "$0")
npx --yes terser@5.51.4 "$here/tally.src.js" --compress --mangle --comments '/^!/' \
    --output "$here/tally.js"
wc -c "$here/tally.js"
