#!/usr/bin/env bash
# Regenerates docs/img/report.png, the README's picture of the demo report:
# runs a short release demo of both stores, then takes a screenshot of the
# top of its report.html with headless Chromium.
#
#   scripts/report-screenshot.sh            # 6 s per store, docs/img/report.png
#   DURATION=12 OUT=/tmp/report.png scripts/report-screenshot.sh
#
# Needs Chromium (Debian: apt-get install -y chromium). Everything but the
# PNG goes to a temporary directory that is removed at the end.
set -euo pipefail

cd "$(dirname "$0")/.."
out=${OUT:-docs/img/report.png}
duration=${DURATION:-6}
width=${WIDTH:-1280}
height=${HEIGHT:-1720}

browser=""
for candidate in chromium chromium-browser google-chrome; do
    if command -v "$candidate" >/dev/null 2>&1; then
        browser=$(command -v "$candidate")
        break
    fi
done
if [ -z "$browser" ]; then
    echo "error: no chromium found (Debian: apt-get install -y chromium)" >&2
    exit 1
fi

work=$(mktemp -d)
profile=$(mktemp -d)
trap 'rm -rf "$work" "$profile"' EXIT

cargo build --release -q -p lsm-cli
target_dir=$(cargo metadata --format-version 1 --no-deps |
    sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
"$target_dir/release/lsm" demo --duration "$duration" --out "$work/report" 2>/dev/null

"$browser" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$profile" --hide-scrollbars --force-device-scale-factor=1 \
    --window-size="$width,$height" --screenshot="$work/report.png" \
    "file://$work/report/report.html" >/dev/null 2>&1

mkdir -p "$(dirname "$out")"
if command -v optipng >/dev/null 2>&1; then
    optipng -quiet -o2 "$work/report.png"
fi
cp "$work/report.png" "$out"
echo "wrote $out ($(wc -c <"$out") bytes)"
