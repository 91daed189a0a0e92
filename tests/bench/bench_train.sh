#!/bin/sh
# bench_train.sh: `sortlens train` against the same recipe in PyTorch
# (bench_train.py: make_reference.py's forward with autograd and
# torch.optim.AdamW), on this machine, in this run, one after the other.
# Prints ms per step, wall clock and CPU time, for each and their ratios.
# CPU time is the steadier figure on a machine shared with other work.
#
# usage: tests/bench/bench_train.sh [SORTLENS] [STEPS] [TORCH_STEPS]
#   SORTLENS     the executable (default build/sortlens)
#   STEPS        timed steps of sortlens (default 300)
#   TORCH_STEPS  timed steps of PyTorch, after 3 untimed ones (default 30)
# Environment: PYTHON (default /usr/bin/python3); OPENBLAS_CORETYPE, if set,
# applies to both (OpenBLAS 0.3.21 falls back to its slow Prescott kernels on
# CPUs it does not know; the script prints which kernels were used).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
sortlens=${1:-build/sortlens}
steps=${2:-300}
torch_steps=${3:-30}
python=${PYTHON:-/usr/bin/python3}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

if ! "$python" -c 'import torch' 2>/dev/null; then
    echo "skipped: $python has no torch (Debian: apt-get install python3-torch)"
    exit 77
fi
core=$("$python" -c 'import ctypes, ctypes.util
l = ctypes.CDLL(ctypes.util.find_library("openblas") or "libopenblas.so.0")
l.openblas_get_corename.restype = ctypes.c_char_p
print(l.openblas_get_corename().decode())' 2>/dev/null || echo unknown)

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "OpenBLAS kernels: $core (OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset})"
echo "recipe: 1 layer, 1 head, d_model 128, batch 256, lists of 10 values in 0..49, AdamW"

for threads in 1 2; do
    # --eval-lists 1: the held-out evaluation at the end is not part of a step;
    # CPU time of the whole process (start-up and that evaluation included)
    /usr/bin/time -f '%U %S' -o "$tmp/time" "$sortlens" train --out "$tmp/m.safetensors" --steps "$steps" \
        --threads "$threads" --eval-lists 1 > "$tmp/out"
    wall=$(sed -n 's/.*(\([0-9.]*\) ms\/step).*/\1/p' "$tmp/out")
    cpu=$(awk -v s="$steps" '{ printf "%.2f", 1000 * ($1 + $2) / s }' "$tmp/time")
    echo "sortlens threads $threads: $wall ms/step wall, $cpu ms/step CPU ($steps steps)"
    eval "sl_wall_$threads=$wall sl_cpu_$threads=$cpu"
done
for threads in 1 2; do
    "$python" "$here/bench_train.py" --steps "$torch_steps" --warmup-steps 3 --threads "$threads" > "$tmp/out"
    sed 's/^torch/torch   /' "$tmp/out"
    eval "pt_wall_$threads=$(sed -n 's/.*: \([0-9.]*\) ms\/step wall.*/\1/p' "$tmp/out")"
    eval "pt_cpu_$threads=$(sed -n 's/.*, \([0-9.]*\) ms\/step CPU.*/\1/p' "$tmp/out")"
done
awk -v s1="$sl_wall_1" -v s2="$sl_wall_2" -v p1="$pt_wall_1" -v p2="$pt_wall_2" \
    -v c1="$sl_cpu_1" -v c2="$sl_cpu_2" -v q1="$pt_cpu_1" -v q2="$pt_cpu_2" 'BEGIN {
    sl = s1 < s2 ? s1 : s2; pt = p1 < p2 ? p1 : p2
    printf "ratio, wall clock: %.1fx at 1 thread, %.1fx at 2; each at its best thread count %.1fx (torch %.2f / sortlens %.2f ms/step)\n", p1 / s1, p2 / s2, pt / sl, pt, sl
    printf "ratio, CPU time:   %.1fx at 1 thread, %.1fx at 2\n", q1 / c1, q2 / c2
}'
