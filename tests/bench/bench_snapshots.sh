#!/bin/sh
# bench_snapshots.sh: what snapshots cost a training run.  Trains the default
# model (the seed's recipe, 1 layer, d_model 128, batch 256) for STEPS steps
# without snapshots and with --snapshot-every EVERY (a model file and the
# optimizer state written each time), alternating, ROUNDS times each, and
# prints the medians of wall and CPU time (user + system, the steadier figure
# on a shared machine) and their ratios.
#
# usage: tests/bench/bench_snapshots.sh [SORTLENS] [STEPS] [EVERY] [ROUNDS]
#   defaults: build/sortlens 1000 100 3
set -eu
sortlens=${1:-build/sortlens}
steps=${2:-1000}
every=${3:-100}
rounds=${4:-3}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); $steps steps, a snapshot every $every"
: > "$tmp/plain"
: > "$tmp/snap"
i=0
while [ "$i" -lt "$rounds" ]; do
    for kind in plain snap; do
        rm -rf "$tmp/m.safetensors" "$tmp/m.run"
        extra=
        [ "$kind" = snap ] && extra="--snapshot-every $every"
        start=$(date +%s.%N)
        # --eval-lists 1: the held-out evaluation at the end is not training
        /usr/bin/time -f '%U %S' -o "$tmp/time" "$sortlens" train --out "$tmp/m.safetensors" --steps "$steps" \
            --eval-lists 1 $extra > /dev/null 2> "$tmp/err" || { cat "$tmp/err"; exit 1; }
        end=$(date +%s.%N)
        awk -v s="$start" -v e="$end" '{ printf "%.3f %.3f\n", e - s, $1 + $2 }' "$tmp/time" >> "$tmp/$kind"
    done
    i=$((i + 1))
done
[ -d "$tmp/m.run" ] && echo "snapshots written: $(ls "$tmp/m.run" | grep -c '^step-'), $(du -sk "$tmp/m.run" | cut -f1) KB"
median() { sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
pw=$(cut -d' ' -f1 "$tmp/plain" | median); pc=$(cut -d' ' -f2 "$tmp/plain" | median)
sw=$(cut -d' ' -f1 "$tmp/snap" | median); sc=$(cut -d' ' -f2 "$tmp/snap" | median)
echo "without snapshots: wall $pw s, CPU $pc s (median of $rounds)"
echo "with snapshots:    wall $sw s, CPU $sc s (median of $rounds)"
awk -v pw="$pw" -v pc="$pc" -v sw="$sw" -v sc="$sc" \
    'BEGIN { printf "cost of snapshots: wall %+.1f%%, CPU %+.1f%% (ratios %.3f, %.3f)\n", 100 * (sw / pw - 1), 100 * (sc / pc - 1), sw / pw, sc / pc }'
