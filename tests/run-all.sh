#!/bin/sh
# The whole test suite, three times over:
#   1. the normal build (build/, the default compiler) and every test;
#   2. a clang build with AddressSanitizer and UndefinedBehaviorSanitizer
#      (build-asan/), every test, leak detection on, any report fatal; then
#      the end-to-end scenarios against that build's explorer (tmux drives
#      it in a pseudo-terminal; tests/e2e/tui.sh sends the reports to files
#      and fails the scenario on any);
#   3. every test of build/ again under valgrind memcheck (the 'valgrind'
#      setup of tests/meson.build: full leak check, error exit code, and
#      SORTLENS_TEST_LIGHT, with which the slowest suites check fewer lists
#      on their costliest paths).
# Prints a summary line per run and a last line "N passed, N failed" over all
# runs; exits non-zero if anything failed (a build failure counts as one).
#
# Usage: sh tests/run-all.sh   (from anywhere; needs meson, ninja, gcc,
#        clang with libclang-rt-14-dev, valgrind, and python3-torch for the
#        tests that compare with PyTorch)
#
# Left out of the instrumented runs: the suite 'bench' (timing under
# instrumentation means nothing), and under valgrind the suite 'e2e' too
# (the explorer runs instrumented in run 2).
set -u
cd "$(dirname "$0")/.." || exit 1

passed=0
failed=0
skipped=0
status=0

# meson test's summary: "Ok: N", "Fail: N", "Unexpected Pass: N",
# "Timeout: N", "Skipped: N" (Expected Fail counts as passed).
count() {  # log label seconds
    ok=$(sed -n 's/^Ok:[[:space:]]*\([0-9]*\).*/\1/p' "$1" | tail -n 1)
    xf=$(sed -n 's/^Expected Fail:[[:space:]]*\([0-9]*\).*/\1/p' "$1" | tail -n 1)
    fl=$(sed -n 's/^Fail:[[:space:]]*\([0-9]*\).*/\1/p' "$1" | tail -n 1)
    up=$(sed -n 's/^Unexpected Pass:[[:space:]]*\([0-9]*\).*/\1/p' "$1" | tail -n 1)
    to=$(sed -n 's/^Timeout:[[:space:]]*\([0-9]*\).*/\1/p' "$1" | tail -n 1)
    sk=$(sed -n 's/^Skipped:[[:space:]]*\([0-9]*\).*/\1/p' "$1" | tail -n 1)
    if [ -z "$ok" ]; then
        # no summary: meson test itself failed
        echo "== $2: no test summary (meson test failed to run)"
        failed=$((failed + 1))
        return
    fi
    p=$((ok + ${xf:-0}))
    f=$((${fl:-0} + ${up:-0} + ${to:-0}))
    passed=$((passed + p))
    failed=$((failed + f))
    skipped=$((skipped + ${sk:-0}))
    echo "== $2: $p passed, $f failed, ${sk:-0} skipped (${3}s)"
}

# Configures (or reconfigures) and builds; a failure counts as one failed test.
build() {  # label dir compiler|"" [meson options...]
    label=$1
    dir=$2
    compiler=$3
    shift 3
    if [ -f "$dir/build.ninja" ]; then
        meson setup --reconfigure "$dir" "$@" >/dev/null
    else
        env ${compiler:+CC=$compiler} meson setup "$dir" "$@" >/dev/null
    fi && ninja -C "$dir" -j 2 && return 0
    echo "== $label: the build failed"
    failed=$((failed + 1))
    status=1
    return 1
}

run_tests() {  # label dir [meson test options...]
    label=$1
    dir=$2
    shift 2
    log=$(mktemp)
    t0=$(date +%s)
    meson test -C "$dir" --print-errorlogs --num-processes 2 "$@" 2>&1 | tee "$log"
    # tee hides meson's status; the summary says what failed
    count "$log" "$label" $(($(date +%s) - t0))
    rm -f "$log"
}

# 1. normal build
echo "== 1/3: normal build (build/)"
if build "normal build" build ""; then
    run_tests "normal build" build
    # The suites that hold the engine to PyTorch, again on the portable
    # kernels (kernels.c): the processor's own ran above, where it has them.
    echo "== 1/3: the PyTorch parity suites with SORTLENS_KERNELS=portable (build/)"
    export SORTLENS_KERNELS=portable
    run_tests "normal build, portable kernels" build forward decode train patch population-torch
    unset SORTLENS_KERNELS
fi

# The names of the tests of DIR but for the e2e and bench suites and the
# names given, for the instrumented runs.
instrumented_tests() {  # dir name...
    dir=$1
    shift
    meson test -C "$dir" --list --no-suite e2e --no-suite bench 2>/dev/null | grep ' / ' | sed 's|.* / ||' |
        while read -r t; do
            keep=1
            for x in "$@"; do [ "$t" = "$x" ] && keep=0; done
            [ "$keep" -eq 1 ] && echo "$t"
        done
}

# 2. sanitizers
echo "== 2/3: clang, ASan + UBSan (build-asan/)"
# One BLAS thread under instrumentation: threads only add time there.
export OPENBLAS_NUM_THREADS=1
# (exported: assignments in front of a shell function do not reach its children)
# tests/lsan.supp: fontconfig's blocks, which it points to by offsets (plot)
export ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export LSAN_OPTIONS="suppressions=$(pwd)/tests/lsan.supp:print_suppressions=0"
if build "ASan+UBSan build" build-asan clang -Db_sanitize=address,undefined -Db_lundef=false; then
    run_tests "ASan+UBSan" build-asan --no-suite e2e --no-suite bench $(instrumented_tests build-asan)
    echo "== 2/3: the explorer under ASan + UBSan, end to end (build-asan/, suite e2e)"
    run_tests "ASan+UBSan e2e" build-asan --suite e2e
fi

# 3. valgrind (the build of run 1)
echo "== 3/3: valgrind memcheck (build/, --setup=valgrind)"
if [ -f build/build.ninja ]; then
    # tests/valgrind.supp holds fontconfig's blocks (plot), as lsan.supp.
    # Left out under memcheck: population-torch and example-installed (a
    # Python and a shell script: memcheck would instrument Python with
    # torch, or sh, and never the sortlens they start; both run in runs 1
    # and 2).  patch runs with
    # SORTLENS_TEST_LIGHT's fewer pairs (about 5 minutes under memcheck), and
    # pair compares with `sortlens patch --json` to 1e-4 of the result's
    # scale, which the other BLAS kernels under memcheck keep to.
    run_tests "valgrind" build --setup=valgrind --no-suite e2e --no-suite bench \
        $(instrumented_tests build population-torch example-installed)
fi

[ "$skipped" -gt 0 ] && echo "($skipped skipped: see the SKIP lines above)"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$status" -eq 0 ]
