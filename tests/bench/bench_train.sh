#!/bin/sh
# bench_train.sh: `sortlens train` against the same recipe in PyTorch
# (bench_train.py: make_reference.py's forward with autograd and
# torch.optim.AdamW), on this machine, in this run, one after the other.
# Prints ms per step (wall clock and CPU time) for each and the ratios.
#
# usage: tests/bench/bench_train.sh [SORTLENS] [STEPS]
#   SORTLENS  the executable (default build/sortlens)
#   STEPS     timed steps of each (default 300)
# Environment: PYTHON (default /usr/bin/python3).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
sortlens=${1:-build/sortlens}
steps=${2:-300}
python=${PYTHON:-/usr/bin/python3}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

if ! "$python" -c 'import torch' 2>/dev/null; then
    echo "skipped: $python has no torch (Debian: apt-get install python3-torch)"
    exit 77
fi

# CPU seconds of a command (user + system, children included) beside its output.
cpu_of() {
    /usr/bin/env time -f '%U %S' -o "$tmp/time" "$@" > "$tmp/out" 2>/dev/null
    awk '{print $1 + $2}' "$tmp/time"
}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "recipe: 1 layer, 1 head, d_model 128, batch 256, lists of 10 values in 0..49, AdamW; $steps timed steps"

for threads in 1 2; do
    # --eval-lists 1: the final held-out evaluation is not part of a step
    cpu=$(cpu_of "$sortlens" train --out "$tmp/m.safetensors" --steps "$steps" --threads "$threads" --eval-lists 1)
    wall=$(sed -n 's/.*(\([0-9.]*\) ms\/step).*/\1/p' "$tmp/out")
    cpums=$(awk -v c="$cpu" -v s="$steps" 'BEGIN { printf "%.2f", 1000 * c / s }')
    echo "sortlens threads $threads: $wall ms/step wall, $cpums ms/step CPU"
    eval "sl_wall_$threads=$wall sl_cpu_$threads=$cpums"
done
for threads in 1 2; do
    cpu=$(cpu_of "$python" "$here/bench_train.py" --steps "$steps" --threads "$threads" --warmup-steps 0)
    wall=$(sed -n 's/.*: \([0-9.]*\) ms\/step.*/\1/p' "$tmp/out")
    cpums=$(awk -v c="$cpu" -v s="$steps" 'BEGIN { printf "%.2f", 1000 * c / s }')
    echo "torch    threads $threads: $wall ms/step wall, $cpums ms/step CPU (including start-up)"
    eval "pt_wall_$threads=$wall"
done
awk -v s1="$sl_wall_1" -v s2="$sl_wall_2" -v p1="$pt_wall_1" -v p2="$pt_wall_2" 'BEGIN {
    sl = s1 < s2 ? s1 : s2; pt = p1 < p2 ? p1 : p2
    printf "ratio (wall, same threads): %.1fx with 1 thread, %.1fx with 2\n", p1 / s1, p2 / s2
    printf "ratio (wall, each at its best thread count): %.1fx (sortlens %.2f ms/step, torch %.2f ms/step)\n", pt / sl, sl, pt
}'
