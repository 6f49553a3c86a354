#!/bin/sh
# Installs the azurite npm package into a scratch folder and bundles each of its entry
# points (azurite, azurite-blob, azurite-queue, azurite-table) into one file with esbuild.
# A bundle loads in about half the time of azurite's ~1,000 separate modules, which is
# most of a container's start-up.
#   bundle.sh OUT_DIR AZURITE_VERSION [npm options, e.g. --cafile FILE]
set -eu
out=$1 version=$2
shift 2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
npm install --prefix "$work" --omit=dev --no-audit --no-fund --loglevel=error "$@" \
    "azurite@$version" "esbuild@0.28.2"
mkdir -p "$out"
# `--version` reads the package.json beside the entry point.
cp "$work/node_modules/azurite/package.json" "$out/package.json"
dist="$work/node_modules/azurite/dist/src"
for entry in azurite:azurite.js blob:blob/main.js queue:queue/main.js table:table/main.js; do
    # sequelize's database drivers are only loaded for an external metadata database,
    # which these containers never use.
    "$work/node_modules/.bin/esbuild" "$dist/${entry#*:}" --bundle --platform=node --target=node18 \
        --log-level=error --outfile="$out/${entry%%:*}.js" \
        --external:pg --external:pg-hstore --external:pg-native --external:tedious --external:mysql2 \
        --external:mariadb --external:sqlite3 --external:oracledb --external:ibm_db --external:snowflake-sdk
done
