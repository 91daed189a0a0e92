/* cmd_convert.c: `sortlens convert IN OUT`: load any checkpoint as a model
 * (validated) and write it as safetensors with TransformerLens names, the
 * buffers HookedTransformer expects, and the config in __metadata__. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

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
          "renamed into place, so OUT is never left half-written.\n"
          "\n"
          "options:\n"
          "  --force      overwrite OUT if it exists\n"
          "  -h, --help   this help\n",
          out);
}

int cmd_convert(int argc, char **argv)
{
    static const struct option opts[] = {
        {"force", no_argument, NULL, 'f'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    bool force = false;
    int ch;
    optind = 1;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, ":hf", opts, NULL)) != -1) {
        switch (ch) {
        case 'f': force = true; break;
        case 'h': usage(stdout); return EXIT_OK;
        default:
            cli_error("convert: unknown option '%s'; try 'sortlens convert --help'", argv[optind - 1]);
            return EXIT_USAGE;
        }
    }
    if (argc - optind != 2) {
        cli_error("convert: expected IN and OUT, got %d argument%s; try 'sortlens convert --help'", argc - optind,
                  argc - optind == 1 ? "" : "s");
        return EXIT_USAGE;
    }
    const char *in = argv[optind], *out = argv[optind + 1];
    struct stat st;
    if (!force && lstat(out, &st) == 0) {
        cli_error("%s: already exists; pass --force to overwrite it", out);
        return EXIT_USAGE;
    }
    SlError err = {0};
    Model *m = ckpt_load(in, &err);
    if (!m) {
        cli_error("%s", err.message);
        return cli_exit_code(err.code);
    }
    /* Where the weights came from, for whoever reads the metadata later. */
    const char *base = strrchr(in, '/');
    base = base ? base + 1 : in;
    if (tensorset_set_meta(m->meta, "converted_from", base, &err) ||
        tensorset_set_meta(m->meta, "converted_from_format", m->format, &err) || ckpt_save(m, out, &err)) {
        cli_error("%s", err.message);
        model_free(m);
        return cli_exit_code(err.code);
    }
    model_free(m);
    return EXIT_OK;
}
