#!/bin/sh
# installed_check.sh MESON BUILDDIR PREFIX LIBDIR EXAMPLE_C SORTLENS MODEL CC:
# installs the build into a throw-away DESTDIR, builds docs/example.c there
# with nothing but `pkg-config --cflags --libs sortlens` (the installed
# sortlens.pc and headers), and checks that program's predictions against
# `sortlens predict`, so that the .pc file and the installed headers are
# proven to be enough.
set -u
meson=$1 build=$2 prefix=$3 libdir=$4 example_c=$5 sortlens=$6 model=$7 cc=$8
if [ ! -f "$model" ]; then echo "SKIP: no bundled model at $model"; exit 77; fi
case $libdir in /*) ;; *) libdir=$prefix/$libdir ;; esac
dest=$(mktemp -d "${TMPDIR:-/tmp}/sl-install.XXXXXX") || exit 1
trap 'rm -rf "$dest"' EXIT
"$meson" install -C "$build" --no-rebuild --quiet --destdir "$dest" > "$dest.log" 2>&1 || { cat "$dest.log"; rm -f "$dest.log"; echo "meson install failed"; exit 1; }
rm -f "$dest.log"
pcdir=$dest$libdir/pkgconfig
[ -f "$pcdir/sortlens.pc" ] || { echo "no sortlens.pc in $pcdir"; exit 1; }
for h in "$(dirname "$example_c")"/../include/sortlens/*.h; do
    [ -f "$dest$prefix/include/sortlens/$(basename "$h")" ] || { echo "header $(basename "$h") not installed"; exit 1; }
done
# The .pc names the real prefix; point it at the DESTDIR copy.
flags=$(PKG_CONFIG_PATH=$pcdir pkg-config --define-variable=prefix="$dest$prefix" --cflags --libs sortlens) \
    || { echo "pkg-config cannot read sortlens.pc"; exit 1; }
case $flags in *"$dest"*) ;; *) echo "pkg-config flags do not point into the install: $flags"; exit 1 ;; esac
# shellcheck disable=SC2086
"$cc" -std=c11 -Wall -Wextra -Werror "$example_c" $flags -o "$dest/example" || { echo "cc failed with: $flags"; exit 1; }
# only the installed library may satisfy it
libs=$(LD_LIBRARY_PATH=$dest$libdir ldd "$dest/example" | grep libsortlens)
case $libs in *"$dest"*) ;; *) echo "example does not load the installed library: $libs"; exit 1 ;; esac
. "$(dirname "$0")/lists.sh"
fail=0 count=0
lists > "$dest/lists"
while read -r list; do
    want=$("$sortlens" predict --model "$model" "$list")
    # shellcheck disable=SC2086
    got=$(LD_LIBRARY_PATH=$dest$libdir "$dest/example" "$model" $list)
    count=$((count + 1))
    [ "$got" = "$want" ] || { echo "list $list: installed example '$got', sortlens predict '$want'"; fail=1; }
done < "$dest/lists"
[ "$count" -eq 23 ] || { echo "only $count lists compared"; fail=1; }
[ "$fail" -eq 0 ] && echo "ok: built with '$flags'; $count lists agree"
exit "$fail"
