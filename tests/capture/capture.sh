#!/bin/sh
# capture.sh BUILD_DIR: the explorer on the bundled model, at the README's
# list and state (prediction position b3, the source it attends to most),
# captured in tmux at 80x24, 120x36, 160x48, 220x60 and 300x100 with 24-bit
# colour: docs/screen-WxH.txt (the text) and docs/screen-WxH.png (drawn by
# ansi2png from the capture with its colour escapes).  The README's
# screenshot, docs/screen.png, is the 220x60 one.
set -eu
build=${1:?usage: capture.sh BUILD_DIR}
src=$(cd "$(dirname "$0")/../.." && pwd)
exe=$(cd "$build" && pwd)/sortlens
png=$(cd "$build" && pwd)/tests/capture/ansi2png
[ -x "$exe" ] && [ -x "$png" ] || { echo "capture.sh: build first (ninja -C $build)"; exit 1; }
command -v tmux >/dev/null || { echo "capture.sh: needs tmux"; exit 1; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/sortlens-capture.XXXXXX")
sock="sortlens-capture-$$"
trap 'tmux -L "$sock" kill-server >/dev/null 2>&1; rm -rf "$tmp"' EXIT INT TERM   # the server of the size being captured
# tmux passes 24-bit colour through (Tc) and keeps it in the capture
printf 'set -g default-terminal tmux-256color\nset -g escape-time 0\nset -ga terminal-overrides ",*:Tc"\n' > "$tmp/tmux.conf"
t() { tmux -L "$sock" -f "$tmp/tmux.conf" "$@"; }
term=xterm-256color
infocmp xterm-direct >/dev/null 2>&1 && term=xterm-direct
for size in 80x24 120x36 160x48 220x60 300x100; do
    w=${size%x*} h=${size#*x}
    # a server for each size: a new session on a server still shutting down
    # (the last session's kill takes it) can fail, "server exited unexpectedly"
    sock="sortlens-capture-$$-$size"
    t new-session -d -s cap -x "$w" -y "$h" \
        "cd '$tmp' && env -u NO_COLOR TERM=$term COLORTERM=truecolor LANG=C.UTF-8 LC_ALL=C.UTF-8 '$exe' --model '$src/data/sortlens-default.safetensors' --list '42 17 26 3 49 0 26 11 8 30' --at 3; sleep 600"
    # wait for the whole frame (the key line is drawn last), then a moment
    # more so that every write of the frame has reached tmux
    i=0
    until t capture-pane -p -t cap | grep -q "q quit"; do
        i=$((i + 1)); [ $i -lt 200 ] || { echo "capture.sh: $size never drew"; exit 1; }
        sleep 0.05
    done
    sleep 0.5
    t capture-pane -p -t cap | sed 's/[[:space:]]*$//' > "$src/docs/screen-$size.txt"
    t capture-pane -e -N -p -t cap > "$tmp/screen.ans"   # -N: trailing coloured blanks too
    "$png" "$w" "$h" "$tmp/screen.ans" "$src/docs/screen-$size.png"
    t kill-session -t cap 2>/dev/null || true   # the last one takes the server with it
    echo "docs/screen-$size.png docs/screen-$size.txt"
done
cp "$src/docs/screen-220x60.png" "$src/docs/screen.png"
echo "docs/screen.png (220x60)"
t kill-server >/dev/null 2>&1 || true
rm -rf "$tmp"
trap - EXIT INT TERM
