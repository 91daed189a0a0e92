/* cmd_tui.c: `sortlens [tui] [--model PATH [--step N]] [--list "42 17 ..."]`: the
 * explorer.  Options are checked and the terminal is tested before the
 * model is loaded, so that a mistake costs nothing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "render.h"
#include "sortlens/circuits.h"
#include "sortlens/listfile.h"
#include "sortlens/run.h"
#include "app.h"
#include "tui.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: sortlens [tui] [--model PATH [--step N]] [--list \"42 17 26 ...\"] [--seed N] [--at K]\n"
            "                      [--source POS] [--view NAME] [--facet MODE] [--scale SCALE]\n"
            "                      [--cell ROW,COL] [--layer L] [--head H] [--teacher-forced]\n"
            "                      [--ablate SPEC] [--input FILE]\n\n"
            "Open the explorer: type or draw a list, watch the model sort it, and see why:\n"
            "predictions with their probabilities, the attention heatmap with the four QK\n"
            "terms of every score, and the QK and OV circuits, with live interventions.\n\n"
            "options:\n"
            "  --model PATH   a checkpoint (.pt or .safetensors), or a run directory (its\n"
            "                 last snapshot); default: the bundled model\n"
            "  --step N       of a run, the last snapshot at or before step N\n"
            "                 or $SORTLENS_MODEL\n"
            "  --list TEXT    start on this list (n values separated by spaces or commas)\n"
            "  --seed N       seed of the random lists (r, f, the first list); default 1\n"
            "  --at K         open at the position that predicts b_K (1..n; MID predicts b_1)\n"
            "  --source POS   put the cursor on key position POS (0 is BOS)\n"
            "  --view NAME    focus a circuit: qk-token-token, qk-token-pos, qk-pos-token,\n"
            "                 qk-pos-pos, ov, ov-pos\n"
            "  --facet MODE   terms: the four QK terms at once (F); combined: the 74x74\n"
            "                 [W_E; W_pos] W_QK [W_E; W_pos]^T matrix (F twice); off\n"
            "  --scale SCALE  the circuits' colour scale (n): row (default), p99, whole\n"
            "  --cell ROW,COL put the circuit cursor (H J K L) on this cell of the matrix it\n"
            "                 moves in: the focused circuit, the facet's focused term, or the\n"
            "                 combined matrix (rows and columns counted from 0)\n"
            "  --layer L, --head H   the layer and head shown\n"
            "  --teacher-forced      open in teacher-forced mode (default: greedy)\n"
            "  --ablate SPEC  start with these interventions: qk:TERM, ov:pos, source:POS,\n"
            "                 each scoped @0.H at most (the language of predict --ablate)\n"
            "                 (w in the explorer shows the command line that reopens its state)\n"
            "  --input FILE   lists for the population mode (m) and the failure atlas (A), one\n"
            "                 per line as for eval --input; checked whole first: a bad line\n"
            "                 is reported with its number (exit 2) before the screen opens\n"
            "  -h, --help     this help\n\n"
            "Keys (each is in sortlens(1); ? in the explorer lists them too):\n"
            "  Left Right h l   step the prediction position\n"
            "  Home End         first / last prediction position\n"
            "  Up Down k j      move the cursor over source positions\n"
            "  e Enter          edit the list (Enter applies, Esc cancels)\n"
            "  r                a random list\n"
            "  f                find a random list the model gets wrong\n"
            "  g                greedy / teacher-forced\n"
            "  1 2 3 4          QK term tok-tok, tok-pos, pos-tok, pos-pos off / on\n"
            "  p                W_pos in the OV path off / on\n"
            "  a                block attention to the source under the cursor\n"
            "  x                clear every intervention\n"
            "  c C              next / previous circuit view\n"
            "  z                zoom: the circuits whole, in place of the heatmap\n"
            "  F                facet: the four QK terms at once; again: the combined QK matrix\n"
            "  n                colour scale: per row / values p99 / whole matrix\n"
            "  H J K L          move the circuit cursor\n"
            "  , .              back / forward through the lists shown before\n"
            "  m                population mode: means over 1000 lists / the list\n"
            "  M                population mode on the next stress kind (or the --input lists)\n"
            "  A                failure atlas (Up/Down a row, Enter: its wrong lists for , .)\n"
            "  P                clean/corrupted pair and its patching panel (again: close)\n"
            "  d                per-source column: logit difference / absolute logit\n"
            "  ( ) ^ $          previous / next / first / last snapshot of a run\n"
            "  T                progress page of a run: its curves over the snapshots\n"
            "  < > =            the value compared with: previous / next / the runner-up\n"
            "  s                attention heatmap: weights / scores\n"
            "  t                axis labels: tokens / named positions\n"
            "  [ ]              previous / next head\n"
            "  { }              previous / next layer\n"
            "  Tab Shift-Tab    next / previous page (small terminals)\n"
            "  S                write the view on screen as SVG to a new sortlens-VIEW-N.svg\n"
            "  ?                every key\n"
            "  w                show the command line that reopens this state\n"
            "  Esc              clear the note on the output line\n"
            "  Ctrl-L           redraw the screen\n"
            "  q Q              quit\n");
}

/* What the command line sets; -1 where not given (ranges that depend on the
 * model are checked once it is loaded). */
typedef struct TuiArgs {
    CliShared sh;
    const char *bench_keys, *input;
    long bench, at, source;
    int view, facet, scale;
    long cell_row, cell_col;
    bool teacher_forced;
} TuiArgs;

/* --cell ROW,COL: their ranges depend on the model and the matrix. */
static bool parse_cell(const char *val, long *row_out, long *col_out)
{
    char row[32];
    const char *comma = strchr(val, ',');
    if (!comma || (size_t)(comma - val) >= sizeof row) {
        cli_error("--cell: '%s' is not ROW,COL (two numbers and a comma)", cli_text(val));
        return false;
    }
    memcpy(row, val, (size_t)(comma - val));
    row[comma - val] = '\0';
    return cli_parse_long("--cell", row, 0, 1000000, row_out) && cli_parse_long("--cell", comma + 1, 0, 1000000, col_out);
}

/* Applies option c with its value; says why and returns false when the
 * value is bad. */
static bool apply_tui_option(void *ctx, int c, const char *val)
{
    TuiArgs *a = ctx;
    SlError verr = {0};
    SlCircuitKind kind;
    switch (c) {
    case 'a': return cli_parse_long("--at", val, 1, 100000, &a->at);
    case 'S': return cli_parse_long("--source", val, 0, 1000000, &a->source);
    case 'v':
        if (sl_circuit_kind_from_name(val, &kind, &verr) < 0) {
            cli_error("--view: %s", verr.message);
            return false;
        }
        a->view = (int)kind;
        return true;
    case 'F':
        if ((a->facet = app_facet_from_option(val)) < 0) {
            cli_error("--facet: '%s' is not one of terms, combined, off", cli_text(val));
            return false;
        }
        return true;
    case 'n':
        if ((a->scale = circuit_scale_from_option(val)) < 0) {
            cli_error("--scale: '%s' is not one of row, p99, whole", cli_text(val));
            return false;
        }
        return true;
    case 'c': return parse_cell(val, &a->cell_row, &a->cell_col);
    case 't': a->teacher_forced = true; return true;
    case 'i':
        if (strcmp(val, "-") == 0) {   /* the explorer reads its keys there */
            cli_error("tui: --input -: standard input is the terminal; give the lists in a file");
            return false;
        }
        a->input = val;
        return true;
    case 'B': return cli_parse_long("--bench-frames", val, 0, 1000000, &a->bench);
    case 'K': a->bench_keys = val; return true;
    case CLI_ARG_POSITIONAL:
        cli_error("unexpected argument '%s'; a list goes in --list \"...\"", cli_text(val));
        return false;
    }
    return false;   /* not reached: cli_args_walk handles --help and CLI_ARG_BAD */
}

/* Fills a from the command line: -1 when all is well, else the exit status
 * (0 after --help). */
static int parse_tui_args(TuiArgs *a, int argc, char **argv)
{
    static const struct option longopts[] = {
        CLI_SHARED_ROW("model"),
        CLI_SHARED_ROW("list"),
        CLI_SHARED_ROW("seed"),
        {"at", required_argument, NULL, 'a'},
        {"source", required_argument, NULL, 'S'},
        {"view", required_argument, NULL, 'v'},
        {"facet", required_argument, NULL, 'F'},
        {"scale", required_argument, NULL, 'n'},
        {"cell", required_argument, NULL, 'c'},
        CLI_SHARED_ROW("layer"),
        CLI_SHARED_ROW("head"),
        {"teacher-forced", no_argument, NULL, 't'},
        CLI_SHARED_ROW("ablate"),
        {"input", required_argument, NULL, 'i'},
        {"bench-frames", required_argument, NULL, 'B'},   /* hidden: times key redraws */
        {"bench-keys", required_argument, NULL, 'K'},     /* hidden: keys pressed first, untimed */
        CLI_SHARED_ROW("step"),
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    *a = (TuiArgs){.sh = cli_shared(), .bench = -1, .source = -1, .view = -1, .facet = -1, .scale = -1,
                   .cell_row = -1, .cell_col = -1};
    /* --layer and --head: -1 when not given */
    a->sh.seed = 1;
    a->sh.layer = a->sh.head = -1;
    a->sh.layer_max = a->sh.head_max = 100000;
    CliArgs args;
    cli_args_begin_shared(&args, "tui", argc, argv, longopts, &a->sh);
    return cli_args_walk(&args, usage, apply_tui_option, a);
}

int cmd_tui(int argc, char **argv)
{
    double start = cli_now();
    TuiArgs a;
    int parsed = parse_tui_args(&a, argc, argv);
    if (parsed >= 0)
        return parsed;
    const long step = a.sh.step;
    char why[512];
    if (tui_terminal_problem(why, sizeof why)) {
        cli_error("%s", why);
        return EXIT_RUNTIME;
    }
    SlError err = {0};
    const char *label = a.sh.model;
    if (!label && !(label = cli_default_model_path(&err))) {
        cli_error("%s", err.message);
        return EXIT_RUNTIME;
    }
    SlModel *m = cli_load_model_at(label, step);
    if (!m)
        return EXIT_RUNTIME;
    /* the file is checked whole, as eval --input checks it, before the screen opens */
    SlListFile *input_file = NULL;
    char input_name[256] = "";
    if (a.input) {
        if (!(input_file = sl_list_file_open(&m->cfg, a.input, &err))) {
            cli_error("%s", err.message);
            sl_model_free(m);
            return cli_exit_code(err.code);
        }
        const char *base = strrchr(a.input, '/');
        render_text_sanitize(base && base[1] ? base + 1 : a.input, input_name, sizeof input_name);
    }
    TuiOptions opt = {
        .model_label = label,
        .list_text = a.sh.list,
        .seed = (uint64_t)a.sh.seed,
        .bench_frames = a.bench,
        .bench_keys = a.bench_keys,
        .at = a.at,
        .source = a.source,
        .layer = a.sh.layer,
        .head = a.sh.head,
        .view = a.view,
        .facet = a.facet,
        .scale = a.scale,
        .cell_row = a.cell_row,
        .cell_col = a.cell_col,
        .teacher_forced = a.teacher_forced,
        .ablate = a.sh.ablate,
        .run_dir = sl_run_is_dir(label) ? label : NULL,
        .step = step,
        .start_time = start,
        .input = input_file,
        .input_name = input_name,
    };
    int stop_signal = 0;
    int rc = tui_run(m, &opt, &stop_signal, &err);
    sl_list_file_close(input_file);
    sl_model_free(m);
    if (rc < 0) {   /* a bad --list is bad input; the terminal or memory failing, a runtime failure */
        cli_error("%s", err.message);
        return rc == SL_EINVAL ? EXIT_USAGE : EXIT_RUNTIME;
    }
    return stop_signal ? 128 + stop_signal : EXIT_OK;
}
