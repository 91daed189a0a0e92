#!/bin/sh
# The whole test suite: build and run every Check suite and end-to-end test.
# Usage: sh tests/run-all.sh   (from the top of the source tree)
set -eu
cd "$(dirname "$0")/.."
if [ -d build ]; then meson setup --reconfigure build >/dev/null; else meson setup build >/dev/null; fi
ninja -C build
meson test -C build --print-errorlogs --num-processes 2
