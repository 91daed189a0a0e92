#!/bin/sh
# headers_check.sh INCLUDEDIR CC: every public header compiles on its own
# with only INCLUDEDIR on the include path (so it includes no private
# header), includes only "sortlens/..." headers and system ones, and every
# function, type, macro, enumerator and variable it declares starts with
# sl_, Sl, SL_ or SORTLENS_ (names that cannot collide in a program that
# links libsortlens).  Fields of structs are the struct's own.
set -u
inc=$1 cc=$2
fail=0 n=0
for h in "$inc"/sortlens/*.h; do
    n=$((n + 1))
    printf '#include <sortlens/%s>\n' "$(basename "$h")" | "$cc" -std=c11 -Wall -Wextra -Werror -fsyntax-only -I "$inc" -x c - \
        || { echo "$h does not compile on its own"; fail=1; }
    grep -n '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$h" | grep -v '"sortlens/[A-Za-z0-9_]*\.h"' \
        && { echo "$h: an include outside sortlens/"; fail=1; }
done
[ "$n" -gt 0 ] || { echo "no headers in $inc/sortlens"; exit 1; }
if command -v ctags > /dev/null; then
    bad=$(ctags -x --kinds-c=defgpstuvx --_xformat='%N %K %F:%n' "$inc"/sortlens/*.h \
          | awk '$1 !~ /^(sl_|Sl|SL_|SORTLENS_|__anon)/')
    [ -z "$bad" ] || { echo "unprefixed public names:"; echo "$bad"; fail=1; }
    total=$(ctags -x --kinds-c=defgpstuvx "$inc"/sortlens/*.h | wc -l)
else
    echo "SKIP: no ctags"; exit 77
fi
[ "$fail" -eq 0 ] && echo "ok: $n headers, $total names, all prefixed and self-contained"
exit "$fail"
