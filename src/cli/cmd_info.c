/* cmd_info.c: `sortlens info`: what a checkpoint holds (format, config,
 * parameter count, biases, tensors as stored, metadata), and the BLAS
 * library that runs the products, as text or JSON. */
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "sortlens/decode.h"
#include "sortlens/blas_runtime.h"
#include "sortlens/checkpoint.h"
#include "sortlens/cpu.h"
#include "sortlens/kernels.h"
#include "sortlens/text_escape.h"

static void usage(FILE *out)
{
    fputs("usage: sortlens info [--model PATH [--step N]] [--json]\n"
          "\n"
          "Describe a checkpoint: its format (pytorch or safetensors, told apart by\n"
          "content), the model config inferred from the tensor shapes, the parameter\n"
          "count, which biases the file holds (missing ones are zero), every tensor as\n"
          "stored (name, dtype, shape) and the safetensors metadata.  The checkpoint is\n"
          "validated as a model, so an invalid one is reported, not described.  Then the\n"
          "BLAS library: its name, version and file, the kernels it chose for this\n"
          "processor (OPENBLAS_CORETYPE overrides them), its build configuration, its\n"
          "thread count, and the processor's AVX2, FMA and AVX-512, with a note when\n"
          "the kernels are generic ones that a variable would improve.  Last, the\n"
          "kernels of sortlens's own one-layer path: avx2, or portable (SORTLENS_KERNELS).\n"
          "\n"
          "options:\n"
          "  --model PATH   a .pt or .safetensors checkpoint, or a run directory (its last\n"
          "                 snapshot); default: the bundled model\n"
          "  --step N       of a run, the last snapshot at or before step N\n"
          "  --json         one JSON object: path, format, config, parameters, biases,\n"
          "                 tensors [{name, dtype, shape}], metadata, blas {name, version,\n"
          "                 path, corename, config, threads, coretype_env, cpu {avx2, fma,\n"
          "                 avx512}, generic_kernels, better_coretype, note}, kernels\n"
          "  -h, --help     this help\n",
          out);
}

static const char *const bias_names[] = {"b_Q", "b_K", "b_V", "b_O", "b_U"};
static const int bias_index[] = {SL_P_B_Q, SL_P_B_K, SL_P_B_V, SL_P_B_O, SL_P_B_U};

static bool all_zero(const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (x[i] != 0.0f)
            return false;
    return true;
}

static void shape_text(const SlTensor *t, char *buf, size_t size)
{
    size_t o = (size_t)snprintf(buf, size, "[");
    for (int d = 0; d < t->ndim && o < size; d++)
        o += (size_t)snprintf(buf + o, size - o, "%s%" PRId64, d ? ", " : "", t->shape[d]);
    if (o < size)
        snprintf(buf + o, size - o, "]");
}

/* Prints s from the file escaped (sl_text_escape): a name or a metadata
 * value may hold ESC sequences or newlines.  Padded to width bytes. */
static int put_escaped(const char *s, int width)
{
    char *e = sl_text_escape_dup(s);
    if (!e)
        return -1;
    printf("%-*s", width, e);
    free(e);
    return 0;
}

static int escaped_len(const char *s)
{
    char *e = sl_text_escape_dup(s);
    int n = e ? (int)strlen(e) : 0;
    free(e);
    return n;
}

/* The BLAS library, its kernels and the processor, for the text output. */
static int print_blas_text(void)
{
    SlBlasInfo b;
    char note[512];
    sl_blas_info(&b);
    printf("blas:        %s %s, %s", b.name, b.version[0] ? b.version : "(version unknown)",
           b.linked_in ? "linked into " : "");
    if (put_escaped(b.path[0] ? b.path : "(file unknown)", 0))
        return EXIT_RUNTIME;
    printf("\n             kernels %s (OPENBLAS_CORETYPE ", b.corename ? b.corename : "unknown");
    if (b.coretype_env) {
        if (put_escaped(b.coretype_env, 0))
            return EXIT_RUNTIME;
    } else {
        fputs("unset", stdout);
    }
    printf("), %d thread%s\n", b.threads, b.threads == 1 ? "" : "s");
    fputs("             config ", stdout);
    if (put_escaped(b.config ? b.config : "unknown", 0))
        return EXIT_RUNTIME;
    printf("\n             processor: AVX2 %s, FMA %s, AVX-512 %s\n", b.cpu & SL_CPU_AVX2 ? "yes" : "no",
           b.cpu & SL_CPU_FMA ? "yes" : "no", b.cpu & SL_CPU_AVX512 ? "yes" : "no");
    if (sl_blas_kernel_note(&b, note, sizeof note))
        printf("note:        %s\n", note);
    printf("kernels:     %s (the one-layer path's own; SORTLENS_KERNELS=portable for baseline x86-64)\n",
           sl_kernels_name());
    int eval_threads = sl_eval_threads();
    printf("eval:        %d thread%s (SORTLENS_THREADS; default: the processors online, at most 8)\n", eval_threads,
           eval_threads == 1 ? "" : "s");
    return EXIT_OK;
}

static json_t *blas_json(void)
{
    SlBlasInfo b;
    char note[512];
    sl_blas_info(&b);
    bool noted = sl_blas_kernel_note(&b, note, sizeof note);
    json_t *o = json_object();
    json_object_set_new(o, "name", json_string(b.name));
    json_object_set_new(o, "version", b.version[0] ? json_string(b.version) : json_null());
    json_object_set_new(o, "path", b.path[0] ? cli_json_name(b.path) : json_null());
    json_object_set_new(o, "linked_in", json_boolean(b.linked_in));
    json_object_set_new(o, "corename", b.corename ? cli_json_name(b.corename) : json_null());
    json_object_set_new(o, "config", b.config ? cli_json_name(b.config) : json_null());
    json_object_set_new(o, "threads", json_integer(b.threads));
    json_object_set_new(o, "coretype_env", b.coretype_env ? cli_json_name(b.coretype_env) : json_null());
    json_object_set_new(o, "cpu", json_pack("{s:b,s:b,s:b}", "avx2", (b.cpu & SL_CPU_AVX2) != 0, "fma",
                                            (b.cpu & SL_CPU_FMA) != 0, "avx512", (b.cpu & SL_CPU_AVX512) != 0));
    json_object_set_new(o, "generic_kernels", json_boolean(b.better_coretype != NULL));
    json_object_set_new(o, "better_coretype", b.better_coretype ? json_string(b.better_coretype) : json_null());
    json_object_set_new(o, "note", noted ? cli_json_name(note) : json_null());
    return o;
}

static int print_text(const char *path, const char *format, const SlTensorSet *ts, SlModel *m)
{
    const SlModelConfig *c = &m->cfg;
    fputs("file:        ", stdout);
    if (put_escaped(path, 0))
        return EXIT_RUNTIME;
    putchar('\n');
    printf("format:      %s\n", format);
    printf("config:      n_layers %d, n_heads %d, d_model %d, d_head %d\n", c->n_layers, c->n_heads, c->d_model, c->d_head);
    printf("             n_ctx %d, d_vocab %d, d_vocab_out %d, list_len %d\n", c->n_ctx, c->d_vocab, c->d_vocab_out,
           c->list_len);
    printf("task:        sorts lists of %d values in 0..%d (BOS %d, MID %d)\n", c->list_len, c->d_vocab_out - 1,
           c->d_vocab_out, c->d_vocab_out + 1);
    printf("parameters:  %zu (biases included)\n", m->num_params);
    printf("biases:     ");
    for (size_t i = 0; i < sizeof bias_index / sizeof bias_index[0]; i++) {
        int p = bias_index[i];
        const char *state = !m->has_bias[p] ? "absent (zero)"
                          : all_zero(sl_model_params_get(&m->params, p), m->param_sizes[p]) ? "zero" : "nonzero";
        printf(" %s %s%s", bias_names[i], state, i + 1 < sizeof bias_index / sizeof bias_index[0] ? "," : "\n");
    }
    printf("tensors:     %d\n", ts->count);
    int width = 0;
    for (int i = 0; i < ts->count; i++)
        if (escaped_len(ts->items[i].name) > width)
            width = escaped_len(ts->items[i].name);
    for (int i = 0; i < ts->count; i++) {
        char shape[160];
        shape_text(&ts->items[i], shape, sizeof shape);
        fputs("  ", stdout);
        if (put_escaped(ts->items[i].name, width))
            return EXIT_RUNTIME;
        printf("  %-4s %s\n", sl_dtype_name(ts->items[i].dtype), shape);
    }
    printf("metadata:    %d\n", ts->meta_count);
    for (int i = 0; i < ts->meta_count; i++) {
        fputs("  ", stdout);
        if (put_escaped(ts->meta_keys[i], 0))
            return EXIT_RUNTIME;
        fputs(": ", stdout);
        if (put_escaped(ts->meta_values[i], 0))
            return EXIT_RUNTIME;
        putchar('\n');
    }
    return print_blas_text();
}

static int print_json(const char *path, const char *format, const SlTensorSet *ts, SlModel *m)
{
    const SlModelConfig *c = &m->cfg;
    json_t *root = json_object(), *cfg = json_object(), *biases = json_object(), *tensors = json_array(),
           *meta = json_object();
    json_object_set_new(root, "path", cli_json_name(path));
    json_object_set_new(root, "format", json_string(format));
    const struct { const char *k; int v; } fields[] = {
        {"n_layers", c->n_layers}, {"n_heads", c->n_heads}, {"d_model", c->d_model}, {"d_head", c->d_head},
        {"n_ctx", c->n_ctx}, {"d_vocab", c->d_vocab}, {"d_vocab_out", c->d_vocab_out}, {"list_len", c->list_len},
    };
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        json_object_set_new(cfg, fields[i].k, json_integer(fields[i].v));
    json_object_set_new(root, "config", cfg);
    json_object_set_new(root, "parameters", json_integer((json_int_t)m->num_params));
    for (size_t i = 0; i < sizeof bias_index / sizeof bias_index[0]; i++) {
        int p = bias_index[i];
        json_object_set_new(biases, bias_names[i],
                            json_pack("{s:b,s:b}", "present", m->has_bias[p], "all_zero",
                                      all_zero(sl_model_params_get(&m->params, p), m->param_sizes[p])));
    }
    json_object_set_new(root, "biases", biases);
    for (int i = 0; i < ts->count; i++) {
        const SlTensor *t = &ts->items[i];
        json_t *shape = json_array();
        for (int d = 0; d < t->ndim; d++)
            json_array_append_new(shape, json_integer(t->shape[d]));
        json_array_append_new(tensors, json_pack("{s:s,s:s,s:o}", "name", t->name, "dtype", sl_dtype_name(t->dtype),
                                                 "shape", shape));
    }
    json_object_set_new(root, "tensors", tensors);
    for (int i = 0; i < ts->meta_count; i++)
        json_object_set_new(meta, ts->meta_keys[i], json_string(ts->meta_values[i]));
    json_object_set_new(root, "metadata", meta);
    json_object_set_new(root, "blas", blas_json());
    json_object_set_new(root, "kernels", json_string(sl_kernels_name()));
    json_object_set_new(root, "eval_threads", json_integer(sl_eval_threads()));
    return cli_put_json(root, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
}

int cmd_info(int argc, char **argv)
{
    static const struct option opts[] = {
        {"model", required_argument, NULL, 'm'},
        {"json", no_argument, NULL, 'j'},
        CLI_STEP_OPTION,
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *path = NULL, *val;
    bool json = false;
    long step = -1;
    CliArgs args;
    cli_args_begin(&args, "info", argc, argv, opts);
    for (int ch; (ch = cli_args_next(&args, &val)) != CLI_ARG_END;) {
        switch (ch) {
        case 'm': path = val; break;
        case 'j': json = true; break;
        case CLI_OPT_STEP:
            if (!cli_parse_step(val, &step))
                return EXIT_USAGE;
            break;
        case 'h': usage(stdout); return EXIT_OK;
        case CLI_ARG_POSITIONAL:
            cli_error("info: unexpected argument '%s' (use --model PATH); try 'sortlens info --help'", cli_text(val));
            return EXIT_USAGE;
        default: return EXIT_USAGE;   /* CLI_ARG_BAD, reported */
        }
    }
    SlError err = {0};
    char *file = cli_model_file(path, step);   /* a run: one of its snapshots */
    if (!file)
        return EXIT_RUNTIME;
    path = file;
    if (!cli_blas_ready(1)) {
        free(file);
        return EXIT_RUNTIME;
    }
    const char *format = NULL;
    SlTensorSet *ts = sl_ckpt_read_tensors(path, &format, &err);
    SlModel *m = ts ? sl_model_from_tensors(ts, path, &err) : NULL;
    int rc = EXIT_OK;
    if (!m) {
        cli_error("%s", err.message);
        sl_tensorset_free(ts);
        free(file);
        return cli_exit_code(err.code);
    }
    if (json)
        rc = print_json(path, format, ts, m);
    else
        rc = print_text(path, format, ts, m);
    sl_model_free(m);
    sl_tensorset_free(ts);
    free(file);
    return rc;
}
