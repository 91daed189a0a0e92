#!/bin/sh
# End-to-end tests of the explorer in a real terminal: tmux runs it in a
# detached session of a given size, send-keys types, capture-pane reads the
# screen.  Every wait polls for the expected text instead of sleeping.
#
# usage: tui.sh SCENARIO SORTLENS_EXECUTABLE
# Exit 0 pass, 1 fail, 77 skip (no tmux, or no model at all).
#
# The same scenarios run against the ASan+UBSan build (tests/run-all.sh):
# the sanitizers write their reports to files under the scenario's temporary
# folder, not into the pane, and any report fails the scenario and is
# printed.  Every wait is an upper bound ($WAIT seconds, 30 unless
# SORTLENS_E2E_WAIT says otherwise) on a poll: an instrumented explorer
# starts and redraws several times slower, a passing run waits no longer.
set -u
scenario=$1
exe=$2
case $exe in /*) ;; *) exe="$(pwd)/$exe" ;; esac   # meson may pass it relative to the build tree

if ! command -v tmux >/dev/null 2>&1; then
    echo "SKIP: tmux is not installed (apt-get install tmux)"
    exit 77
fi

# The model: the bundled one, else $SORTLENS_MODEL, else the seed in ../shared.
src=${SORTLENS_SOURCE:-$(dirname "$0")/../..}
model=""
for m in "$src/data/sortlens-default.safetensors" "${SORTLENS_MODEL:-}" \
         "${SORTLENS_SHARED:-$src/../shared}/seed-model/sort_fixed_len_list_model.pt"; do
    if [ -n "$m" ] && [ -r "$m" ]; then model=$m; break; fi
done
if [ -z "$model" ]; then
    echo "SKIP: no model (no data/sortlens-default.safetensors, no \$SORTLENS_MODEL, no ../shared seed)"
    exit 77
fi
echo "model: $model"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/sortlens-e2e.XXXXXX")
sock="sortlens-e2e-$$"
trainer=""   # a training the scenario started in the background
cleanup() {
    [ -n "$trainer" ] && kill "$trainer" 2>/dev/null
    tmux -L "$sock" kill-server >/dev/null 2>&1
    rm -rf "$tmp"
}
trap cleanup EXIT INT TERM
WAIT=${SORTLENS_E2E_WAIT:-30}

# ASan/LSan and UBSan reports as files $tmp/asan.PID or $tmp/ubsan.PID (a
# program with both sanitizers writes all its reports to the path it parsed
# last, ubsan.PID).  The tmux server, and so the explorer, inherits these;
# builds without the sanitizers ignore them.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}log_path=$tmp/asan"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}log_path=$tmp/ubsan"

# sanitizer_reports: prints every report file; true if there was one.
sanitizer_reports() {
    found=1
    for f in "$tmp"/asan.* "$tmp"/ubsan.*; do
        [ -e "$f" ] || continue
        echo "---- sanitizer report ${f##*/} ----"
        cat "$f"
        found=0
    done
    return $found
}

# tmux's own terminal type, with 256 colours; the explorer runs under it
printf 'set -g default-terminal tmux-256color\nset -g escape-time 0\n' > "$tmp/tmux.conf"
t() { tmux -L "$sock" -f "$tmp/tmux.conf" "$@"; }

fail() {
    echo "FAIL [$scenario]: $*"
    echo "---- screen ----"
    t capture-pane -p -t e2e 2>/dev/null
    echo "----------------"
    sanitizer_reports
    exit 1
}

LIST="42 17 26 3 49 0 26 11 8 30"
SORTED="0 3 8 11 17 26 26 30 42 49"

# start W H [ENV=VALUE ...] -- ARGS...: runs the explorer (its standard error
# to the file $stderr_to when that is set); when it exits,
# its status lands in $tmp/status and the pane stays for a last look.
start() {
    w=$1 h=$2
    shift 2
    envs=""
    while [ $# -gt 0 ] && [ "$1" != "--" ]; do envs="$envs '$1'"; shift; done
    [ $# -gt 0 ] && shift
    args=""
    for a in "$@"; do args="$args '$a'"; done
    cat >"$tmp/run.sh" <<EOF
cd '$tmp'
trap : INT   # the shell outlives a Ctrl-C to record the status (the explorer gets the default back)
env -u NO_COLOR -u COLORTERM LANG=C.UTF-8 LC_ALL=C.UTF-8 $envs '$exe' --model '$model' $args ${stderr_to:+2>'$stderr_to'}
echo \$? > '$tmp/status'
exec sleep 600
EOF
    rm -f "$tmp/status"
    t new-session -d -s e2e -x "$w" -y "$h" "sh '$tmp/run.sh'" || fail "tmux could not start"
}

screen() { t capture-pane -p -t e2e; }

# wait_for TEXT [SECONDS]: polls the screen until it shows TEXT.
wait_for() {
    limit=${2:-$WAIT}
    i=0
    while [ "$i" -lt $((limit * 20)) ]; do
        if screen | grep -F -q -- "$1"; then return 0; fi
        sleep 0.05
        i=$((i + 1))
    done
    fail "the screen never showed '$1'"
}

# shows TEXT SECONDS: polls like wait_for, but only answers (0 or 1).
shows() {
    i=0
    while [ "$i" -lt $(($2 * 20)) ]; do
        if screen | grep -F -q -- "$1"; then return 0; fi
        sleep 0.05
        i=$((i + 1))
    done
    return 1
}

# wait_gone TEXT: polls until TEXT is no longer on the screen.
wait_gone() {
    i=0
    while [ "$i" -lt $((WAIT * 20)) ]; do
        if ! screen | grep -F -q -- "$1"; then return 0; fi
        sleep 0.05
        i=$((i + 1))
    done
    fail "'$1' stayed on the screen"
}

# wait_exit CODE: polls until the explorer has exited with CODE.
wait_exit() {
    i=0
    while [ "$i" -lt $((WAIT * 20)) ]; do
        if [ -s "$tmp/status" ]; then
            got=$(cat "$tmp/status")
            [ "$got" = "$1" ] || fail "exit status $got, expected $1"
            return 0
        fi
        sleep 0.05
        i=$((i + 1))
    done
    fail "the explorer did not exit"
}

keys() { t send-keys -t e2e "$@"; }

# start_multi: the explorer at 160x48 on the 2-layer, 2-head test model
multi="$src/tests/data/multi_2l2h.pt"
start_multi() {
    start 160 48 -- --model "$multi" --list "3 1 4 1 5"
    wait_for "layer 0/2 head 0/2"
}

# the lines of the screen that show predictions (rows, output, detail)
predictions() { screen | grep -E '^(predicts|p %|runner-up|output|at )'; }

# wait_change OLD: polls until predictions() differs from OLD.
wait_change() {
    i=0
    while [ "$i" -lt $((WAIT * 20)) ]; do
        if [ "$(predictions)" != "$1" ]; then return 0; fi
        sleep 0.05
        i=$((i + 1))
    done
    fail "the predictions did not change"
}

case $scenario in
open)
    # open on a list and see its sort
    start 160 48 -- --list "$LIST"
    wait_for "output   $SORTED"
    wait_for "sorted"
    screen | grep -q "^tokens .*BOS  42  17  26   3  49   0  26  11   8  30 MID" || fail "token strip"
    wait_for "attention weights"
    wait_for "QK token-token"
    wait_for "OV token"
    keys q
    wait_exit 0
    ;;
arrows)
    start 160 48 -- --list "$LIST"
    wait_for "at MID (pos 11)"
    keys Right
    wait_for "at b1 (pos 12)"
    keys Right Right
    wait_for "at b3 (pos 14)"
    keys Left
    wait_for "at b2 (pos 13)"
    keys l
    wait_for "at b3 (pos 14)"
    keys h
    wait_for "at b2 (pos 13)"
    keys End
    wait_for "at b9 (pos 20)"
    keys Right   # the last prediction position: stays
    wait_for "at b9 (pos 20)"
    keys Home Up
    # the cursor leaves the most attended source: the cursor line names another one
    before=$(screen | grep "attends most to")
    keys Down Down
    i=0
    while [ "$(screen | grep 'attends most to')" = "$before" ] && [ $i -lt $((WAIT * 20)) ]; do sleep 0.05; i=$((i + 1)); done
    [ "$(screen | grep 'attends most to')" != "$before" ] || fail "Up/Down did not move the cursor"
    keys q
    wait_exit 0
    ;;
random)
    start 160 48 -- --list "$LIST"
    wait_for "output   $SORTED"
    keys r
    wait_gone "output   $SORTED"
    wait_for "output "
    keys q
    wait_exit 0
    ;;
edit)
    start 160 48 -- --list "$LIST"
    wait_for "output   $SORTED"
    keys e
    wait_for "edit: 10 values 0..49"
    keys C-u
    keys -l "5 4 x"
    wait_for "'x' is not allowed"
    keys Enter
    # the refused character stays in the text, so the list is refused whole
    wait_for "'x' is not a number"
    # issue 17.7: a list is taken whole or refused whole (the editor once
    # dropped the '.' and the '-' and applied 15 2 3 ... and 1 2 3 ...)
    for bad in "1.5 2 3 4 5 6 7 8 9 10|'1.5': '.' after a number" "-1 2 3 4 5 6 7 8 9 10|'-1' is negative" \
               "(1 ... 10)|'(1' is not a number" "1,,2,3,4,5,6,7,8,9|an empty value between two commas" \
               "1 2 3 4 5 6 7 8 9 99999999999999999999|value 99999999999999999999 is outside 0..49"; do
        keys C-u
        keys -l -- "${bad%%|*}"
        keys Enter
        wait_for "${bad#*|}"
    done
    keys C-u
    keys -l "1 2 3 4 5 6 7 8 9 77"
    keys Enter
    wait_for "value 77 is outside 0..49"
    keys Escape
    wait_gone "edit: 10 values"
    wait_for "output   $SORTED"   # Esc kept the old list
    keys e C-u
    keys -l "9 8 7 6 5 4 3 2 1 0"
    keys Enter
    wait_gone "edit: 10 values"
    wait_for "BOS   9   8   7   6   5   4   3   2   1   0 MID"
    # a digit is never an editor key (1-4 switch QK terms): 7 does nothing,
    # Enter opens the editor on the current list
    keys 7
    keys Enter
    wait_for "edit: 10 values 0..49"
    keys C-u
    keys -l "10 20 30 40 49 48 47 46 45 44"
    keys Enter
    wait_for "BOS  10  20  30  40  49  48  47  46  45  44 MID"
    keys q
    wait_exit 0
    ;;
paste)
    # 100 KB pasted into the editor, invalid UTF-8 and a bare Esc
    start 120 40 -- --list "$LIST"
    wait_for "output   $SORTED"
    awk 'BEGIN { for (i = 0; i < 40000; i++) printf "%d ", i % 50 }' > "$tmp/big.txt"
    [ "$(wc -c < "$tmp/big.txt")" -ge 100000 ] || fail "paste file too small"
    keys e C-u
    t load-buffer -b big "$tmp/big.txt"
    t paste-buffer -b big -t e2e
    wait_for "the list is too long" $((WAIT * 2))
    keys C-u
    keys -l "é"   # tmux drops invalid UTF-8 itself: rawbytes.py sends that through a pty
    wait_for "U+00E9 is not allowed"
    keys Escape
    wait_gone "edit: 10 values"
    keys Escape   # a bare Esc outside the editor does nothing harmful
    keys Right
    wait_for "at b1 (pos 12)"
    keys q
    wait_exit 0
    ;;
ablations)
    start 160 48 -- --list "$LIST"
    wait_for "output   $SORTED"
    for k in 1 2 3 4 p; do
        old=$(predictions)
        keys "$k"
        wait_change "$old"
        wait_for "OFF"
        old=$(predictions)
        keys "$k"
        wait_change "$old"
        wait_gone "OFF"
    done
    old=$(predictions)
    keys a   # block the most attended source of MID: the smallest value
    wait_change "$old"
    wait_for "blocked source a6"
    keys a
    wait_for "blocked source none"
    old=$(predictions)
    keys 1 2
    wait_change "$old"
    wait_for "without interventions:"
    keys x
    wait_gone "without interventions:"
    keys q
    wait_exit 0
    ;;
modes)
    start 160 48 -- --list "$LIST"
    wait_for "greedy  ? help"
    keys g
    wait_for "teacher-forced  ? help"
    keys c
    wait_for "QK token-pos"
    keys c c c
    wait_for "OV token"
    keys c
    wait_for "OV position"
    keys s
    wait_for "attention scores"
    keys '?'
    wait_for "keys (any key closes this help)"
    keys q   # closes the help, does not quit
    wait_gone "keys (any key closes this help)"
    keys f
    wait_for "random lists"
    keys q
    wait_exit 0
    ;;
pages)
    start 80 24 -- --list "$LIST"
    wait_for "1 Sort"
    wait_for "where MID (pos 11) looks"
    keys Tab
    wait_for "attention weights"
    keys Tab
    wait_for "QK token-token"
    keys Tab
    wait_for "where MID (pos 11) looks"
    keys q
    wait_exit 0
    ;;
resize)
    start 160 48 -- --list "$LIST"
    wait_for "output   $SORTED"
    t resize-window -t e2e -x 1 -y 1
    sleep 0.2
    t resize-window -t e2e -x 30 -y 6
    wait_for "sortlens needs at least"
    for s in 2x2 100x30 1x1 45x12 7x3 200x60 80x24; do   # a resize storm
        t resize-window -t e2e -x "${s%x*}" -y "${s#*x}"
    done
    wait_for "1 Sort"
    t resize-window -t e2e -x 160 -y 48
    wait_for "output   $SORTED"
    wait_for "QK token-token"
    keys q
    wait_exit 0
    ;;
nocolor)
    start 160 48 NO_COLOR=1 -- --list "$LIST"
    wait_for "output   $SORTED"
    t capture-pane -e -p -t e2e > "$tmp/mono.txt"
    if grep -E -q "(\[|;)(3[0-8]|4[0-8]|9[0-7]|10[0-7])(;|m)" "$tmp/mono.txt"; then   # 39/49 (default colours) are fine
        fail "colour escapes with NO_COLOR set"
    fi
    # the heatmap falls back to the glyph ramp: the BOS row holds '@' (weight 1)
    screen | grep -q "BOS @@" || fail "no monochrome glyph ramp in the heatmap"
    # issue 17.5: a circuit window cut at the top names its first row (with
    # NO_COLOR one matrix row per line, and the first one had no label)
    screen | grep -q -E "▲ ?[0-9]+[^0-9]" || fail "the cut QK panel's first row has no label"
    keys q
    wait_exit 0
    # the same screen with colour has colour escapes; a server of its own,
    # since a new session on a server still shutting down can fail to start
    t kill-server
    sock="$sock-colour"
    start 160 48 -- --list "$LIST"
    wait_for "output   $SORTED"
    t capture-pane -e -p -t e2e > "$tmp/colour.txt"
    grep -q "$(printf '\033')\[[0-9;]*48;5;" "$tmp/colour.txt" || fail "no 256-colour backgrounds without NO_COLOR"
    keys q
    wait_exit 0
    ;;
terminals)
    # TERM=dumb, unset, unknown; no tty: a clear message and exit 1
    main_sock=$sock
    for term in dumb "" no-such-terminal-xyz; do
        sock="$main_sock-${term:-unset}"   # a server each: no race with one shutting down
        out=$(t new-session -d -x 100 -y 10 -s chk \
            "env -u TERM ${term:+TERM=$term} '$exe' --model '$model' 2> '$tmp/out'; echo \$? > '$tmp/st'; sleep 600" 2>&1)
        i=0
        while [ ! -s "$tmp/st" ] && [ $i -lt $((WAIT * 20)) ]; do sleep 0.05; i=$((i + 1)); done
        [ "$(cat "$tmp/st" 2>/dev/null)" = 1 ] || fail "TERM='$term': exit $(cat "$tmp/st" 2>/dev/null), expected 1 ($out)"
        case $term in
        dumb) grep -q "TERM=dumb cannot move the cursor" "$tmp/out" || fail "TERM=dumb message: $(cat "$tmp/out")" ;;
        "") grep -q "TERM is not set" "$tmp/out" || fail "unset TERM message: $(cat "$tmp/out")" ;;
        *) grep -q "is not a terminal type this system knows" "$tmp/out" || fail "unknown TERM message: $(cat "$tmp/out")" ;;
        esac
        rm -f "$tmp/st"
        t kill-server
    done
    sock=$main_sock
    "$exe" --model "$model" < /dev/null 2> "$tmp/out"
    st=$?
    [ $st = 1 ] || fail "no tty: exit $st, expected 1"
    grep -q "needs a terminal" "$tmp/out" || fail "no tty message: $(cat "$tmp/out")"
    # a bad --list is a usage error (2), a bad option too
    start 100 30 -- --list "1 2 3"
    wait_exit 2
    grep -q "expected 10 numbers, got 3" "$tmp/status" 2>/dev/null || screen | grep -q "expected 10 numbers, got 3" \
        || fail "bad --list message"
    ;;
signals)
    # Ctrl-C leaves through the same cleanup as q, with 130
    start 120 40 -- --list "$LIST"
    wait_for "output   $SORTED"
    keys C-c
    wait_exit 130
    ;;
suspend)
    # Ctrl-Z gives the shell back with the terminal restored; fg redraws
    cat > "$tmp/rc" <<EOF
PS1='shell$ '
EOF
    t new-session -d -s e2e -x 120 -y 40 "env LANG=C.UTF-8 bash --rcfile '$tmp/rc' -i"
    wait_for 'shell$'
    keys -l "'$exe' --model '$model' --list '$LIST'"
    keys Enter
    wait_for "output   $SORTED"
    # A key that reaches the explorer while it is still stopping or
    # resuming can be lost with the type-ahead the terminal modes discard
    # (seen about once in ten runs on a loaded machine), so each is sent
    # again if nothing happened: a second Ctrl-Z at the shell prompt does
    # nothing, and a second Right can only move on to b2.
    keys C-z
    shows "Stopped" 10 || keys C-z
    wait_for "Stopped"
    wait_for 'shell$'
    keys -l "fg"
    keys Enter
    wait_for "output   $SORTED"
    keys Right
    if ! shows "at b1 (pos 12)" 10; then
        keys Right
        shows "at b1 (pos 12)" "$WAIT" || wait_for "at b2 (pos 13)"
    fi
    keys q
    wait_gone "output   $SORTED"
    keys -l 'echo status=$?'
    keys Enter
    wait_for "status=0"
    ;;
layers)
    # issue 17.1: } shows layer 1 and every readout follows it: the circuit
    # readouts equal 'sortlens circuit --layer 1' (they kept layer 0's)
    start_multi
    keys '}'
    wait_for "layer 1/2 head 0/2"
    for spec in "qk-token-token|MID|query MID, key 3:|5" "ov|3|source 3, out 13:|15"; do
        IFS='|' read -r name row label col <<EOF2
$spec
EOF2
        want=$("$exe" circuit "$name" --layer 1 --model "$multi" --format csv | awk -F, -v r="$row" -v c="$col" '$1 == r { printf "%+.3f", $c }')
        [ -n "$want" ] || fail "no $name value from sortlens circuit"
        wait_for "$label $want"
    done
    keys q
    wait_exit 0
    ;;
heads)
    # issue 17.2: an intervention stays on the head it was made on, and the
    # status line says which (it followed the head cursor, unnamed)
    start_multi
    keys ']'
    wait_for "head 1/2"
    old=$(predictions)
    keys 1
    wait_change "$old"
    wait_for "qk:token-token@0.1"
    after=$(screen | grep "^output")
    keys '['
    wait_for "layer 0/2 head 0/2"
    wait_for "qk:token-token@0.1"
    [ "$(screen | grep "^output")" = "$after" ] || fail "the output changed when the head cursor moved: $(screen | grep "^output")"
    keys 2   # a switch on another head while one is active is refused, saying where they are
    wait_for "the interventions act on head 1"
    keys x
    wait_gone "qk:token-token@0.1"
    keys q
    wait_exit 0
    ;;
attends)
    # issue 17.4: "attends" names the top source, not the cursor
    start 160 48 -- --list "$LIST"
    wait_for "MID attends most to a6 (pos 6 = 0):"
    keys Down
    wait_for "MID attends most to a6; cursor a7 (pos 7 = 26):"
    keys Down Down Down Down Down   # past MID: b1, which MID never sees
    wait_for "masked: a query never sees later positions"
    screen | grep "masked: a query" | grep -q "attends most to" || fail "the masked cursor line does not name the top source"
    keys q
    wait_exit 0
    ;;
narrow)
    # issue 17.5: at 80 columns a probability of exactly 1 read "99"
    start 80 24 -- --list "$LIST"
    wait_for "at MID (pos 11)"
    wait_for "p 1.0000"
    screen | grep -q -E "^p % +1\. " || fail "p = 1 at MID is not shown as '1.'"
    keys q
    wait_exit 0
    ;;
bigvocab)
    # issue 19.13: a vocab-4000 model's circuits take seconds before the first
    # frame; the terminal says what is being computed meanwhile, not a blank
    "$exe" train --steps 0 --max-num 4000 --out "$tmp/v4000.safetensors" > "$tmp/train.txt" 2>&1 || fail "train: $(cat "$tmp/train.txt")"
    start 160 48 -- --model "$tmp/v4000.safetensors"
    wait_for "computing the explorer's circuits (4002 x 4002 token-token, 22 positions)"
    wait_for "lists of 10 values 0..3999"
    screen | grep -q "computing the explorer" && fail "the note stayed on the first frame"
    keys q
    wait_exit 0
    ;;
maxnum)
    # issue 17.5: values of three digits in two-column heatmap cells were
    # garbled (labels cut to positions mod 100, run together)
    "$exe" train --steps 0 --max-num 200 --out "$tmp/m200.safetensors" > "$tmp/train.txt" 2>&1 || fail "train: $(cat "$tmp/train.txt")"
    start 160 48 -- --model "$tmp/m200.safetensors" --list "150 7 101 99 199 3 120 64 188 10"
    wait_for "attention weights"
    # every number in the heatmap's label line is a token of the strip,
    # none cut ("15" of 150) or run into another ("7109" of 7 and 109)
    tokens=" $(screen | grep "^tokens" | cut -c9- | tr -s ' ') "
    labels=$(screen | grep -A1 "attention weights" | tail -1 | cut -c1-49)
    # (two-digit labels fill their cells and may touch: a run of digits is a
    # token, or two-digit tokens side by side)
    for w in $(echo "$labels" | tr -c '0-9\n' ' '); do
        case "$tokens" in *" $w "*) continue ;; esac
        rest=$w
        while [ ${#rest} -ge 2 ]; do
            pair=$(printf '%s' "$rest" | cut -c1-2)
            case "$tokens" in *" $pair "*) ;; *) fail "heatmap label '$w' is no token of the strip ($tokens): '$labels'" ;; esac
            rest=$(printf '%s' "$rest" | cut -c3-)
        done
        [ -z "$rest" ] || fail "heatmap label '$w' is no token of the strip ($tokens): '$labels'"
    done
    echo "$labels" | grep -q -E "(^|[^0-9])[0-9]{3}([^0-9]|$)" || fail "no three-digit label at all: '$labels'"
    keys q
    wait_exit 0
    ;;
homeend)
    # issue 17.10: Home/End with TERM=xterm-256color inside tmux (tmux sends
    # ESC[1~ / ESC[4~, which that terminfo entry does not list)
    start 160 48 TERM=xterm-256color -- --list "$LIST"
    wait_for "at MID (pos 11)"
    keys End
    wait_for "at b9 (pos 20)"
    keys Home
    wait_for "at MID (pos 11)"
    keys q
    wait_exit 0
    ;;
overflow)
    # issue 18.4: a model with finite weights whose forward overflows: said
    # on screen, no coloured garbage, no probabilities
    command -v python3 >/dev/null 2>&1 || { echo "SKIP: python3 is not installed"; exit 77; }
    case $model in *.safetensors) ;; *) echo "SKIP: needs a safetensors model"; exit 77 ;; esac
    python3 "$(dirname "$0")/overflow_model.py" "$model" "$tmp/ovf.safetensors" || fail "overflow_model.py"
    start 160 48 -- --model "$tmp/ovf.safetensors" --list "$LIST"
    wait_for "logits are not numbers (NaN/Inf) at MID"
    wait_for "the logits here are not numbers"
    screen | grep -q "^p % *? *?" || fail "probabilities shown for logits that are not numbers"
    keys q
    wait_exit 0
    ;;
termgone)
    # issue 19.12: the pty vanishes without a SIGHUP (not the controlling
    # terminal): the explorer must leave, not spin
    command -v python3 >/dev/null 2>&1 || { echo "SKIP: python3 is not installed"; exit 77; }
    SORTLENS_E2E_WAIT=$WAIT python3 "$(dirname "$0")/termgone.py" "$exe" "$model" || fail "termgone.py"
    ;;
reopen)
    # issue 14.5: w gives the command line that reopens the state (b2 predicts
    # b3: --at 3); run it
    # and the same position, source, view and mode come back
    start 160 48 -- --list "$LIST"
    wait_for "at MID (pos 11)"
    keys Right Right Down c c
    wait_for "at b2 (pos 13)"
    wait_for "QK pos-token"
    keys g
    wait_for "teacher-forced  ? help"
    keys 3   # an intervention, in the --ablate language
    wait_for "qk:pos-token"
    want_detail=$(screen | grep "^at b2 (pos 13)")
    want_cursor=$(screen | grep "attends most to")
    keys w
    wait_for "sortlens --model"   # on the output line, as much as fits
    keys q
    wait_exit 0
    line=$(t capture-pane -p -J -t e2e | grep "^sortlens --model" | tail -1)   # -J: the line wrapped
    [ -n "$line" ] || fail "w printed no command line on leaving"
    case $line in *"--at 3 --source"*"--teacher-forced --ablate 'qk:pos-token'"*) ;; *) fail "unexpected command line: $line" ;; esac
    t kill-server
    sock="$sock-again"
    printf "cd '%s'\nenv -u NO_COLOR -u COLORTERM LANG=C.UTF-8 LC_ALL=C.UTF-8 '%s' %s\necho \$? > '%s/status'\nexec sleep 600\n" \
        "$tmp" "$exe" "${line#sortlens }" "$tmp" > "$tmp/run.sh"
    rm -f "$tmp/status"
    t new-session -d -s e2e -x 160 -y 48 "sh '$tmp/run.sh'" || fail "tmux could not start"
    wait_for "$want_detail"
    wait_for "$want_cursor"
    wait_for "teacher-forced  ? help"
    wait_for "QK pos-token"
    wait_for "qk:pos-token"
    keys q
    wait_exit 0
    # out of range: refused with the reason, status 2
    t kill-server
    sock="$sock-bad"
    start 100 30 -- --list "$LIST" --at 11
    wait_exit 2
    t kill-server
    sock="$sock-ablate"
    start 100 30 -- --list "$LIST" --ablate "head:0.0@query=MID"
    wait_exit 2
    ;;
rawbytes)
    # bytes tmux would not pass: invalid UTF-8, through a pty of our own
    command -v python3 >/dev/null 2>&1 || { echo "SKIP: python3 is not installed"; exit 77; }
    SORTLENS_E2E_WAIT=$WAIT python3 "$(dirname "$0")/rawbytes.py" "$exe" "$model" || fail "rawbytes.py"
    ;;
truecolor)
    # 24-bit colour, through the xterm-direct terminfo entry (Debian's
    # ncurses-term): asked for by TERM, and by COLORTERM=truecolor beside a
    # 256-colour TERM (the explorer then picks the -direct entry itself)
    have_direct=no
    if command -v infocmp >/dev/null 2>&1; then
        infocmp xterm-direct >/dev/null 2>&1 && have_direct=yes
    else
        for d in "${TERMINFO:-}" "$HOME/.terminfo" /etc/terminfo /lib/terminfo /usr/share/terminfo; do
            [ -n "$d" ] && [ -e "$d/x/xterm-direct" ] && have_direct=yes
        done
    fi
    if [ $have_direct = no ]; then
        echo "SKIP: no xterm-direct terminfo entry, so no 24-bit colour to test (Debian: apt-get install ncurses-term)"
        exit 77
    fi
    esc=$(printf '\033')
    main_sock=$sock
    for term in xterm-direct xterm-256color; do
        sock="$main_sock-$term"   # a server each: no race with one shutting down
        start 160 48 TERM=$term COLORTERM=truecolor -- --list "$LIST"
        wait_for "output   $SORTED"
        wait_for "QK token-token"
        wait_for "OV token"
        # tmux keeps the colours as they came: RGB as 38;2;R;G;B / 48;2;R;G;B.
        # A frame can reach tmux in several writes: capture until the
        # heatmap's colour bar (drawn late, low on the screen) is in, both
        # ends of its viridis scale (#440154 and #fde725), checked below.
        i=0
        while [ "$i" -lt $((WAIT * 20)) ]; do
            t capture-pane -e -p -t e2e > "$tmp/true.txt"
            grep -o "$esc\[[0-9;]*m" "$tmp/true.txt" | grep -o -E "[34]8;(5;[0-9]+|2;[0-9]+;[0-9]+;[0-9]+)" > "$tmp/colours.txt"
            grep -q "^48;2;68;1;84$" "$tmp/colours.txt" && grep -q "^48;2;253;231;37$" "$tmp/colours.txt" && break
            sleep 0.05
            i=$((i + 1))
        done
        grep -q "^48;2;" "$tmp/colours.txt" || fail "TERM=$term COLORTERM=truecolor: no 24-bit backgrounds"
        grep -q "^38;2;" "$tmp/colours.txt" || fail "TERM=$term COLORTERM=truecolor: no 24-bit foregrounds"
        ! grep -q "^[34]8;5;" "$tmp/colours.txt" || fail "TERM=$term COLORTERM=truecolor: 256-colour escapes among the 24-bit ones"
        # not merely the 256-colour palette written as RGB: some colour lies off
        # the xterm cube (levels 0 95 135 175 215 255) and its grey ramp (8 + 10k)
        off=$(grep "^48;2;" "$tmp/colours.txt" | sort -u | awk -F';' '
            function cube(v) { return v == 0 || v == 95 || v == 135 || v == 175 || v == 215 || v == 255 }
            !((cube($3) && cube($4) && cube($5)) || ($3 == $4 && $4 == $5 && $3 >= 8 && $3 <= 238 && ($3 - 8) % 10 == 0)) { n++ }
            END { print n + 0 }')
        [ "$off" -gt 0 ] || fail "TERM=$term COLORTERM=truecolor: every background is a 256-palette colour"
        # the attention heatmap's scale is matplotlib's viridis, from #440154
        # (weight 0) to #fde725 (the top: weight 1, as the first query's on BOS)
        grep -q "^48;2;68;1;84$" "$tmp/colours.txt" || fail "TERM=$term: no viridis #440154 (weight 0) background"
        grep -q "^48;2;253;231;37$" "$tmp/colours.txt" || fail "TERM=$term: no viridis #fde725 (weight 1) background"
        echo "TERM=$term COLORTERM=truecolor: $(grep -c "^48;2;" "$tmp/colours.txt") 24-bit backgrounds, $off distinct ones off the 256 palette"
        keys q
        wait_exit 0
        t kill-server
    done
    sock=$main_sock
    ;;
patching)
    # P: the list becomes the clean one, a one-value change (seeded: a8 11 -> 37) the list shown,
    # and the patching panel takes the circuits' place
    start 160 48 -- --list "$LIST"
    wait_for "output   $SORTED"
    keys P
    wait_for "patching: clean"
    wait_for "clean 42 17 26 3 49 0 26 11 8 30"
    wait_for "BOS  42  17  26   3  49   0  26  37   8  30 MID"
    # MID predicts b1, the same 0 in both sorted lists: the panel says why there is nothing to patch
    wait_for "b1 is the same in both sorted lists"
    keys Right Right Right Right Right Right Right
    wait_for "b8: clean answer 30, corrupted 37"
    wait_for "0.attn.hook_pattern h0"
    wait_for "pos-pos h0"
    # e edits the corrupted list; the panel follows it
    keys e C-u
    keys -l "42 17 26 3 49 0 26 11 8 31"
    keys Enter
    wait_for "b8: clean answer 30, corrupted 31"
    # r: another one-value change of the clean list
    keys r
    wait_gone "26  11   8  31 MID"
    wait_for "clean 42 17 26 3 49 0 26 11 8 30"
    # P again: the circuits come back
    keys P
    wait_gone "patching: clean"
    wait_for "QK token-token"
    keys q
    wait_exit 0
    ;;
save)
    # issue 14.4: S writes the view on screen as SVG to a new file here (an
    # existing one is never replaced), says where, and its cells' <title>s
    # are those of `sortlens plot attention` of the same state; an error is
    # shown and the explorer goes on
    echo keep > "$tmp/sortlens-attention-1.svg"
    start 160 48 -- --list "$LIST"
    wait_for "at MID (pos 11)"
    keys Right t
    wait_for "at b1 (pos 12)"
    keys S
    wait_for "wrote sortlens-attention-2.svg"
    [ "$(cat "$tmp/sortlens-attention-1.svg")" = keep ] || fail "S replaced an existing file"
    "$exe" plot attention --model "$model" --list "$LIST" --at b1 --labels names --greedy --out "$tmp/want.svg" \
        || fail "sortlens plot attention failed"
    /usr/bin/python3 - "$tmp/sortlens-attention-2.svg" "$tmp/want.svg" <<'PY' || fail "the saved figure differs from sortlens plot attention"
import sys, xml.etree.ElementTree as ET
def titles(path):
    root = ET.parse(path).getroot()   # parses as XML, and is SVG
    assert root.tag == "{http://www.w3.org/2000/svg}svg", root.tag
    return [t.text for t in root.iter("{http://www.w3.org/2000/svg}title")]
got, want = titles(sys.argv[1]), titles(sys.argv[2])
diff = [(g, w) for g, w in zip(got, want) if g != w]
assert len(want) >= 22 * 22 and len(got) == len(want) and not diff, (len(got), len(want), diff[:3])
print("titles equal:", len(got))
PY
    keys m M
    wait_for "mean attention weights over 1000 distinct lists"
    keys S
    wait_for "S: S draws the means of uniform lists only"
    keys m z S
    wait_for "wrote sortlens-qk-token-token-1.svg"
    keys q
    wait_exit 0
    ;;
population)
    # m: the heatmap and the score terms as means over 1000 uniform lists; M the next kind; m back to the list
    start 160 48 -- --list "$LIST"
    wait_for "output   $SORTED"
    keys m
    wait_for "mean attention weights over 1000 uniform lists"
    wait_for "under the cursor: means over 1000 uniform lists"
    keys s
    wait_for "mean attention scores over 1000 uniform lists"
    keys s M
    wait_for "mean attention weights over 1000 distinct lists"
    keys m
    wait_gone "mean attention"
    wait_for "attention weights · keys labelled every 2nd"
    keys q
    wait_exit 0
    ;;
input)
    # --input FILE: a bad line is refused before the screen opens, as eval --input refuses it (exit 2);
    # a good file is the population mode's population (its size and name in the titles) and the atlas's first row
    printf '1 2 3 4 5 6 7 8 9 10\n\n1 2 3 4 5 6 7 8 9 50\n' > "$tmp/bad.txt"
    want=$("$exe" eval --model "$model" --input "$tmp/bad.txt" 2>&1 >/dev/null)
    case $want in *"bad.txt: line 3: "*) ;; *) fail "eval --input said: $want" ;; esac
    start 160 48 -- --input "$tmp/bad.txt"
    wait_for "$want"
    wait_exit 2
    t kill-server
    "$exe" generate --model "$model" --kind gap --lists 200 --seed 3 > "$tmp/gap.txt" || fail "generate failed"
    acc=$("$exe" eval --model "$model" --input "$tmp/gap.txt" | awk '/^list accuracy/ { printf "%.4f", $3 }')
    [ -n "$acc" ] || fail "eval --input gave no list accuracy"
    start 160 48 -- --list "$LIST" --input "$tmp/gap.txt"
    wait_for "output   $SORTED"
    keys m
    wait_for "mean attention weights over 200 lists of gap"   # the heatmap's title, cut to its width
    wait_for "means over 200 lists of gap.txt  greedy"   # whole on the title line
    keys M
    wait_for "mean attention weights over 1000 uniform lists"
    keys A
    wait_for "failure atlas"
    wait_for "by population: the lists of gap.txt"
    wait_for "> --input         200  $acc"
    wait_for "  constant       1000  "
    keys Escape
    wait_for "output   $SORTED"
    keys q
    wait_exit 0
    ;;
attribution)
    # the per-source column: the logit difference against the runner-up (MID: 0 vs 1), < > = pick, d the absolute logit
    start 160 48 -- --list "$LIST"
    wait_for "where MID looks · 3 of 12"
    wait_for " 0 vs 1"
    keys '>'
    wait_for " 0 vs 2"
    keys '<' '<'
    wait_for " 0 vs 49"
    keys '='
    wait_for " 0 vs 1"
    keys d
    wait_for "OV → 0"
    keys q
    wait_exit 0
    ;;
run)
    # opened on a run: ( ) ^ $ step through its snapshots; the title shows the step and the
    # output line is that snapshot's greedy output, as `sortlens predict --model RUN --step N` gives it
    "$exe" train --out "$tmp/r.safetensors" --steps 200 --snapshot-every 100 >"$tmp/train.log" 2>&1 ||
        fail "train: $(cat "$tmp/train.log")"
    for s in 0 100 200; do
        "$exe" predict --model "$tmp/r.run" --step $s $LIST > "$tmp/p$s" || fail "predict --step $s"
    done
    [ "$(cat "$tmp/p0")" != "$(cat "$tmp/p200")" ] || fail "step 0 and step 200 predict the same: nothing to see change"
    start 160 48 -- --model "$tmp/r.run" --list "$LIST"
    wait_for "r.run step 200 (3 of 3)"
    wait_for "output   $(cat "$tmp/p200")"
    keys '('
    wait_for "r.run step 100 (2 of 3)"
    wait_for "output   $(cat "$tmp/p100")"
    keys '^'
    wait_for "r.run step 0 (1 of 3)"
    wait_for "output   $(cat "$tmp/p0")"
    keys '('   # the first: stays
    wait_for "r.run step 0 (1 of 3)"
    keys ')'
    wait_for "r.run step 100 (2 of 3)"
    keys '$'
    wait_for "r.run step 200 (3 of 3)"
    wait_for "output   $(cat "$tmp/p200")"
    keys q
    wait_exit 0
    # --step N exactly at a snapshot, and between two (the one before it, said on stderr);
    # a server each, since a new session on a server still shutting down can fail to start
    t kill-server
    sock="$sock-step"
    start 160 48 -- --model "$tmp/r.run" --step 100 --list "$LIST"
    wait_for "r.run step 100 (2 of 3)"
    wait_for "output   $(cat "$tmp/p100")"
    keys q
    wait_exit 0
    t kill-server
    sock="$sock-between"
    stderr_to="$tmp/step.err"
    start 160 48 -- --model "$tmp/r.run" --step 150 --list "$LIST"
    stderr_to=""
    wait_for "r.run step 100 (2 of 3)"
    keys q
    wait_exit 0
    grep -q "no snapshot at step 150; using step 100" "$tmp/step.err" || fail "--step 150: no note on stderr ($(cat "$tmp/step.err"))"
    ;;
live)
    # opened on a run still training: it reaches a newer snapshot without a key press
    "$exe" train --out "$tmp/r.safetensors" --steps 3000 --snapshot-every 100 >"$tmp/train.log" 2>&1 &
    trainer=$!
    i=0
    while [ ! -e "$tmp/r.run/step-0000000.safetensors" ] && [ $i -lt $((WAIT * 20)) ]; do sleep 0.05; i=$((i + 1)); done
    [ -e "$tmp/r.run/step-0000000.safetensors" ] || { kill $trainer; fail "the run wrote no first snapshot"; }
    start 160 48 -- --model "$tmp/r.run" --list "$LIST"
    wait_for "r.run step "
    first=$(screen | grep -o "r.run step [0-9]*" | head -1)
    i=0
    while [ "$(screen | grep -o "r.run step [0-9]*" | head -1)" = "$first" ] && [ $i -lt $((WAIT * 20)) ]; do
        sleep 0.05; i=$((i + 1))
    done
    now=$(screen | grep -o "r.run step [0-9]*" | head -1)
    kill $trainer 2>/dev/null
    wait $trainer 2>/dev/null
    [ "$now" != "$first" ] || fail "the explorer stayed at '$first' while the run went on"
    [ "${now##* }" -gt "${first##* }" ] || fail "it went from '$first' to '$now', not to a newer step"
    echo "live: from '$first' to '$now' without a key"
    keys q
    wait_exit 0
    ;;
*)
    echo "unknown scenario $scenario"
    exit 1
    ;;
esac
# every scenario has seen the explorer exit, so its reports are written
if sanitizer_reports; then
    echo "FAIL [$scenario]: sanitizer reports (above)"
    exit 1
fi
echo "PASS [$scenario]"
exit 0
