#!/bin/sh
# bench_sgemm.sh: what OPENBLAS_CORETYPE changes on this machine: sgemm
# 5632x128x128 (one thread) with the kernels OpenBLAS chose itself, with
# its AVX2 kernels (Haswell), its AVX-512 ones (SkylakeX, where the
# processor has AVX-512) and its generic Prescott kernels, alternating
# ROUNDS times so that each sees the same load; prints the median GFLOP/s of
# each and its ratio to Prescott's.
#
# usage: tests/bench/bench_sgemm.sh BENCH_SGEMM [ROUNDS]
set -eu
bench=$1
rounds=${2:-5}
cores="default Haswell Prescott"
grep -qw avx512f /proc/cpuinfo 2>/dev/null && cores="default SkylakeX Haswell Prescott"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load $(cut -d' ' -f1-3 /proc/loadavg)"
i=0
while [ "$i" -lt "$rounds" ]; do
    for c in $cores; do
        if [ "$c" = default ]; then
            env -u OPENBLAS_CORETYPE "$bench" 3 >> "$tmp/$c"
        else
            OPENBLAS_CORETYPE=$c "$bench" 3 >> "$tmp/$c"
        fi
    done
    i=$((i + 1))
done
median() { cut -d' ' -f2 "$1" | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
base=$(median "$tmp/Prescott")
for c in $cores; do
    m=$(median "$tmp/$c")
    printf 'sgemm 5632x128x128, 1 thread, %-8s (kernels %s): %6.1f GFLOP/s, %.1fx Prescott (median of %d)\n' \
        "$c" "$(head -n 1 "$tmp/$c" | cut -d' ' -f1)" "$m" "$(echo "$m $base" | awk '{ print $1 / $2 }')" "$rounds"
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
