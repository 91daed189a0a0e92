/* cmd_circuit.c: `sortlens circuit NAME`: print one full QK or OV circuit
 * as CSV or JSON, labelled, with enough digits to read the floats back. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "sortlens/circuits.h"
#include "sortlens/finite_check.h"

static void usage(FILE *out)
{
    fputs("usage: sortlens circuit NAME [--model PATH [--step N]] [--layer L] [--head H] [--format csv|json]\n"
          "\n"
          "Print a full circuit of one attention head, multiplied out through the\n"
          "embeddings and the unembedding (QK terms unscaled, as the notebook plots them):\n"
          "  ov              W_E W_V W_O W_U            rows: tokens,    columns: values\n"
          "  ov-pos          W_pos W_V W_O W_U          rows: positions, columns: values\n"
          "  qk-token-token  W_E W_Q W_K^T W_E^T        rows: query tokens,    columns: key tokens\n"
          "  qk-token-pos    W_E W_Q W_K^T W_pos^T      rows: query tokens,    columns: key positions\n"
          "  qk-pos-token    W_pos W_Q W_K^T W_E^T      rows: query positions, columns: key tokens\n"
          "  qk-pos-pos      W_pos W_Q W_K^T W_pos^T    rows: query positions, columns: key positions\n"
          "Tokens are labelled 0..49, BOS, MID (for the default sizes); positions p0..p21,\n"
          "where p0 is BOS, p1..p10 the list, p11 MID and p12..p21 the sorted list.\n"
          "Biases, if the model has any, are folded into the position side.  For a layer\n"
          "after the first, the circuit is the direct one: as if the head read the\n"
          "embeddings straight, ignoring what earlier layers add.\n"
          "\n"
          "options:\n"
          "  --model PATH      a .pt or .safetensors checkpoint, or a run directory (its\n"
          "                    last snapshot); default: the bundled model\n"
          "  --step N          of a run, the last snapshot at or before step N\n"
          "  --layer L         layer (default 0)\n"
          "  --head H          head (default 0)\n"
          "  --format csv|json csv (default): a header row of column labels, then one row\n"
          "                    per matrix row led by its label; json: {\"name\", \"rows\",\n"
          "                    \"cols\", \"row_labels\", \"col_labels\", \"data\", \"layer\", \"head\"}\n"
          "  -h, --help        this help\n",
          out);
}

/* RFC 4180: labels are plain here, but quote anything unusual anyway. */
static void csv_cell(FILE *out, const char *s)
{
    if (strpbrk(s, ",\"\r\n")) {
        fputc('"', out);
        for (; *s; s++) {
            if (*s == '"')
                fputc('"', out);
            fputc(*s, out);
        }
        fputc('"', out);
    } else {
        fputs(s, out);
    }
}

static void write_csv(FILE *out, const SlNamedMatrix *nm)
{
    for (int c = 0; c < nm->cols; c++) {
        fputc(',', out);
        csv_cell(out, nm->col_labels[c]);
    }
    fputc('\n', out);
    for (int r = 0; r < nm->rows; r++) {
        csv_cell(out, nm->row_labels[r]);
        for (int c = 0; c < nm->cols; c++)
            fprintf(out, ",%.9g", (double)nm->data[(size_t)r * nm->cols + c]);   /* 9 digits round-trip a float */
        fputc('\n', out);
    }
}

/* jansson refuses NaN and infinities; JSON has no spelling for them: null. */
static json_t *json_float(float x)
{
    return isfinite(x) ? json_real((double)x) : json_null();
}

static int write_json(const SlNamedMatrix *nm, int layer, int head)
{
    json_t *root = json_object(), *rl = json_array(), *cl = json_array(), *data = json_array();
    int rc = EXIT_RUNTIME;
    if (!root || !rl || !cl || !data)
        goto done;
    for (int r = 0; r < nm->rows; r++)
        json_array_append_new(rl, json_string(nm->row_labels[r]));
    for (int c = 0; c < nm->cols; c++)
        json_array_append_new(cl, json_string(nm->col_labels[c]));
    for (int r = 0; r < nm->rows; r++) {
        json_t *row = json_array();
        if (!row)
            goto done;
        for (int c = 0; c < nm->cols; c++)
            json_array_append_new(row, json_float(nm->data[(size_t)r * nm->cols + c]));
        json_array_append_new(data, row);
    }
    json_object_set_new(root, "name", json_string(nm->name));
    json_object_set_new(root, "rows", json_integer(nm->rows));
    json_object_set_new(root, "cols", json_integer(nm->cols));
    json_object_set_new(root, "row_labels", rl);
    json_object_set_new(root, "col_labels", cl);
    json_object_set_new(root, "data", data);
    json_object_set_new(root, "layer", json_integer(layer));
    json_object_set_new(root, "head", json_integer(head));
    rl = cl = data = NULL;
    /* JSON_REAL_PRECISION(9): the shortest that round-trips every float32. */
    rc = cli_put_json(root, JSON_PRESERVE_ORDER | JSON_COMPACT | JSON_REAL_PRECISION(9));
    root = NULL;   /* released by cli_put_json */
done:
    if (root)   /* not handed to cli_put_json: building it failed */
        cli_error("out of memory writing JSON");
    json_decref(rl);
    json_decref(cl);
    json_decref(data);
    json_decref(root);
    return rc;
}

int cmd_circuit(int argc, char **argv)
{
    static const struct option opts[] = {
        CLI_SHARED_ROW("model"),
        CLI_SHARED_ROW("layer"),
        CLI_SHARED_ROW("head"),
        {"format", required_argument, NULL, 'f'},
        CLI_SHARED_ROW("step"),
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    CliShared sh = cli_shared();
    const char *format = "csv";
    CliArgs args;
    cli_args_begin_shared(&args, "circuit", argc, argv, opts, &sh);
    const char *val;
    const char *positional = NULL;
    int ch;
    while ((ch = cli_args_next(&args, &val)) != CLI_ARG_END) {
        switch (ch) {
        case 'f':
            if (strcmp(val, "csv") && strcmp(val, "json")) {
                cli_error("circuit: --format: '%s' is not csv or json", val);
                return EXIT_USAGE;
            }
            format = val;
            break;
        case 'h': usage(stdout); return EXIT_OK;
        case CLI_ARG_POSITIONAL:
            if (positional) {
                cli_error("circuit: one circuit at a time ('%s' is extra)", val);
                return EXIT_USAGE;
            }
            positional = val;
            break;
        default: return EXIT_USAGE;   /* CLI_ARG_BAD, reported */
        }
    }
    const char *model_path = sh.model;
    const long layer = sh.layer, head = sh.head, step = sh.step;
    if (!positional) {
        cli_error("circuit: which circuit? one of ov, ov-pos, qk-token-token, qk-token-pos, qk-pos-token, qk-pos-pos");
        return EXIT_USAGE;
    }
    SlError err = {0};
    SlCircuitKind kind;
    if (sl_circuit_kind_from_name(positional, &kind, &err)) {
        cli_error("circuit: %s", err.message);
        return EXIT_USAGE;
    }
    SlModel *m = cli_load_model_at(model_path, step);
    if (!m)
        return EXIT_RUNTIME;
    SlNamedMatrix *nm = sl_circuit_get_kind(m, kind, (int)layer, (int)head, &err);
    if (!nm) {
        cli_error("%s: %s", model_path ? cli_text(model_path) : "bundled model", err.message);
        sl_model_free(m);
        return cli_exit_code(err.code);
    }
    /* a circuit of weights that overflow float32 is not printed as nan/inf */
    static const char *const dims[] = {"row", "col"};
    const int64_t shape[2] = {nm->rows, nm->cols};
    char what[96];
    snprintf(what, sizeof what, "circuit %s", nm->name);
    if (sl_check_finite(what, nm->data, 2, shape, dims, &err)) {
        cli_error("%s: %s", cli_text(cli_model_label(model_path)), err.message);
        sl_named_matrix_free(nm);
        sl_model_free(m);
        return EXIT_RUNTIME;
    }
    int status = EXIT_OK;
    if (strcmp(format, "json") == 0) {
        status = write_json(nm, (int)layer, (int)head);
    } else {
        write_csv(stdout, nm);
    }
    sl_named_matrix_free(nm);
    sl_model_free(m);
    return status;
}
