#!/bin/sh
# capture_progress.sh BUILD_DIR RUN_DIR [STEP]: the explorer's progress page
# (T) on a training run, the marker at snapshot STEP (default 200), captured
# in tmux at 160x48 with 24-bit colour once every snapshot is measured:
# docs/progress-160x48.txt and docs/progress-160x48.png (as capture.sh makes
# the screen captures; the README shows it for the seed's recipe, trained with
# `sortlens train --snapshots 50`).
set -eu
build=${1:?usage: capture_progress.sh BUILD_DIR RUN_DIR [STEP]}
run=$(cd "${2:?usage: capture_progress.sh BUILD_DIR RUN_DIR [STEP]}" && pwd)
step=${3:-200}
src=$(cd "$(dirname "$0")/../.." && pwd)
exe=$(cd "$build" && pwd)/sortlens
png=$(cd "$build" && pwd)/tests/capture/ansi2png
[ -x "$exe" ] && [ -x "$png" ] || { echo "capture_progress.sh: build first (ninja -C $build)"; exit 1; }
command -v tmux >/dev/null || { echo "capture_progress.sh: needs tmux"; exit 1; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/sortlens-capture.XXXXXX")
sock="sortlens-capture-$$"
trap 'tmux -L "$sock" kill-server >/dev/null 2>&1; rm -rf "$tmp"' EXIT INT TERM
printf 'set -g default-terminal tmux-256color\nset -g escape-time 0\nset -ga terminal-overrides ",*:Tc"\n' > "$tmp/tmux.conf"
t() { tmux -L "$sock" -f "$tmp/tmux.conf" "$@"; }
term=xterm-256color
infocmp xterm-direct >/dev/null 2>&1 && term=xterm-direct
w=160 h=48
t new-session -d -s cap -x "$w" -y "$h" \
    "cd '$tmp' && env -u NO_COLOR TERM=$term COLORTERM=truecolor LANG=C.UTF-8 LC_ALL=C.UTF-8 '$exe' --model '$run' --step '$step'; sleep 600"
i=0
until t capture-pane -p -t cap | grep -q "q quit"; do
    i=$((i + 1)); [ $i -lt 400 ] || { echo "capture_progress.sh: the explorer never drew"; exit 1; }
    sleep 0.05
done
t send-keys -t cap T
# every snapshot measured: the progress note is gone (a snapshot takes about half a second)
i=0
sleep 1
while t capture-pane -p -t cap | grep -q "measuring snapshot"; do
    i=$((i + 1)); [ $i -lt 1200 ] || { echo "capture_progress.sh: still measuring after 10 minutes"; exit 1; }
    sleep 0.5
done
sleep 0.5
t capture-pane -p -t cap | sed 's/[[:space:]]*$//' > "$src/docs/progress-${w}x${h}.txt"
t capture-pane -e -N -p -t cap > "$tmp/screen.ans"
"$png" "$w" "$h" "$tmp/screen.ans" "$src/docs/progress-${w}x${h}.png"
echo "docs/progress-${w}x${h}.png docs/progress-${w}x${h}.txt"
t kill-server >/dev/null 2>&1 || true
rm -rf "$tmp"
trap - EXIT INT TERM
