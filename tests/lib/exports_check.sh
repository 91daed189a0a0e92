#!/bin/sh
# exports_check.sh LIB: the shared library exports prefixed names only
# (sl_, Sl, SL_, SORTLENS_: its public API, src/core/libsortlens.map), and
# exports them: an internal helper (ops_*, forward_*, pickle_*, ...) could
# collide with a name of the program that links it.
set -u
lib=$1
command -v nm > /dev/null || { echo "SKIP: no nm"; exit 77; }
all=$(nm -D --defined-only "$lib" | awk 'NF >= 3 { print $3 }') || exit 1
bad=$(printf '%s\n' "$all" | grep -Ev '^(sl_|Sl|SL_|SORTLENS_)' | grep -v '^$')
count=$(printf '%s\n' "$all" | grep -Ec '^sl_')
[ -z "$bad" ] || { echo "$lib exports unprefixed names:"; echo "$bad"; exit 1; }
[ "$count" -gt 100 ] || { echo "$lib exports only $count sl_ names"; exit 1; }
echo "ok: $count sl_ names exported, nothing else"
