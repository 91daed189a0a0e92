#!/bin/sh
# example_check.sh EXAMPLE SORTLENS MODEL: docs/example.c prints, for every
# list, the line `sortlens predict --model MODEL LIST` prints.
set -u
example=$1 sortlens=$2 model=$3
if [ ! -f "$model" ]; then echo "SKIP: no bundled model at $model"; exit 77; fi
. "$(dirname "$0")/lists.sh"
fail=0 count=0
lists > "${TMPDIR:-/tmp}/sl-example-lists.$$"
while read -r list; do
    # shellcheck disable=SC2086
    want=$("$sortlens" predict --model "$model" "$list") || { echo "sortlens predict failed on: $list"; fail=1; continue; }
    # shellcheck disable=SC2086
    got=$("$example" "$model" $list) || { echo "example failed on: $list"; fail=1; continue; }
    count=$((count + 1))
    if [ "$got" != "$want" ]; then echo "list $list: example '$got', sortlens predict '$want'"; fail=1; fi
done < "${TMPDIR:-/tmp}/sl-example-lists.$$"
rm -f "${TMPDIR:-/tmp}/sl-example-lists.$$"
[ "$count" -eq 23 ] || { echo "only $count of 23 lists compared"; fail=1; }
# a bad list: usage status 2 and a message, nothing on stdout
out=$("$example" "$model" 1 2 3 2>/dev/null); st=$?
[ "$st" -eq 2 ] && [ -z "$out" ] || { echo "short list: status $st, stdout '$out' (want 2, empty)"; fail=1; }
out=$("$example" "$model" 1 2 3 4 5 6 7 8 9 50 2>/dev/null); st=$?
[ "$st" -eq 2 ] && [ -z "$out" ] || { echo "value 50: status $st, stdout '$out' (want 2, empty)"; fail=1; }
out=$("$example" /nonexistent.safetensors 1 2 3 4 5 6 7 8 9 0 2>/dev/null); st=$?
[ "$st" -eq 1 ] && [ -z "$out" ] || { echo "missing model: status $st (want 1)"; fail=1; }
[ "$fail" -eq 0 ] && echo "ok: $count lists, example = sortlens predict"
exit "$fail"
