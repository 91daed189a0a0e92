/* cmd_convert.c: `sortlens convert IN OUT`: load any checkpoint as a model
 * (validated) and write it as safetensors with TransformerLens names, the
 * buffers HookedTransformer expects, and the config in __metadata__. */
#include <jansson.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "sortlens/checkpoint.h"

static void usage(FILE *out)
{
    fputs("usage: sortlens convert IN OUT.safetensors [--force]\n"
          "\n"
          "Read a checkpoint (a torch.save state dict or a safetensors file), check it\n"
          "is a model sortlens can run, and write it as safetensors: TransformerLens\n"
          "names, float32 weights (missing biases written as zeros), the mask and\n"
          "IGNORE buffers, and the config in __metadata__ (n_layers n_heads d_model\n"
          "d_head n_ctx d_vocab d_vocab_out list_len), plus any metadata IN carried.\n"
          "The result loads in PyTorch (safetensors.torch.load_file, then\n"
          "HookedTransformer.load_state_dict).  The file is written beside OUT and\n"
          "renamed into place, so OUT is never left half-written (a device or FIFO\n"
          "is written through; a symbolic link is followed).  IN's file name goes in\n"
          "converted_from; bytes of it that are not UTF-8 are written as \\xNN.\n"
          "\n"
          "options:\n"
          "  --force      overwrite OUT if it exists\n"
          "  -h, --help   this help\n",
          out);
}

/* The input's file name for the metadata, as valid UTF-8: the name as it
 * is when it is UTF-8 (jansson checks), else with every byte outside
 * printable ASCII written as \xNN, as a shell's $'...' would.  Malloc'd. */
static char *name_for_metadata(const char *name)
{
    json_t *as_is = json_string(name);
    if (as_is) {
        json_decref(as_is);
        return strdup(name);
    }
    size_t len = strlen(name);
    char *out = malloc(4 * len + 1), *p = out;
    if (!out)
        return NULL;
    for (const unsigned char *c = (const unsigned char *)name; *c; c++) {
        if (*c >= 0x20 && *c < 0x7f && *c != '\\')
            *p++ = (char)*c;
        else
            p += sprintf(p, "\\x%02x", *c);
    }
    *p = '\0';
    return out;
}

int cmd_convert(int argc, char **argv)
{
    static const struct option opts[] = {
        {"force", no_argument, NULL, 'f'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    bool force = false;
    const char *paths[2] = {NULL, NULL}, *val;
    int npaths = 0;
    CliArgs args;
    cli_args_begin(&args, "convert", argc, argv, opts);
    for (int ch; (ch = cli_args_next(&args, &val)) != CLI_ARG_END;) {
        switch (ch) {
        case 'f': force = true; break;
        case 'h': usage(stdout); return EXIT_OK;
        case CLI_ARG_POSITIONAL:
            if (npaths < 2)
                paths[npaths] = val;
            npaths++;
            break;
        default: return EXIT_USAGE;   /* CLI_ARG_BAD, reported */
        }
    }
    if (npaths != 2) {
        cli_error("convert: expected IN and OUT, got %d argument%s; try 'sortlens convert --help'", npaths,
                  npaths == 1 ? "" : "s");
        return EXIT_USAGE;
    }
    const char *in = paths[0], *out = paths[1];
    int checked = cli_check_output(out, force, in);
    if (checked != EXIT_OK)
        return checked;
    SlError err = {0};
    if (!cli_blas_ready(1))
        return EXIT_RUNTIME;
    SlModel *m = sl_ckpt_load(in, &err);
    if (!m) {
        cli_error("%s", err.message);
        return cli_exit_code(err.code);
    }
    /* Where the weights came from, for whoever reads the metadata later. */
    const char *base = strrchr(in, '/');
    char *from = name_for_metadata(base ? base + 1 : in);
    if (!from) {
        cli_error("out of memory");
        sl_model_free(m);
        return EXIT_RUNTIME;
    }
    int status = EXIT_OK;
    if (sl_tensorset_set_meta(m->meta, "converted_from", from, &err) ||
        sl_tensorset_set_meta(m->meta, "converted_from_format", m->format, &err) || sl_ckpt_save(m, out, &err)) {
        cli_error("%s", err.message);
        status = cli_exit_code(err.code);
    }
    free(from);
    sl_model_free(m);
    return status;
}
