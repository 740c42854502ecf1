#!/usr/bin/env bash
# Refresh the vendored ECharts from the npm registry: its minified dist file, LICENSE and NOTICE.
# Usage: web/static/vendor/echarts/refresh.sh [VERSION]   (default: the registry's latest)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
tarball="$(npm pack "echarts@${1:-latest}" --silent | tail -n 1)"
tar -xzf "$tarball" package/dist/echarts.min.js package/LICENSE package/NOTICE package/package.json
cp package/dist/echarts.min.js package/LICENSE package/NOTICE "$here/"
node -p "require('./package/package.json').version" > "$here/VERSION"
echo "echarts $(cat "$here/VERSION") vendored into $here"
