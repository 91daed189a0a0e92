/* cmd_generate.c: `sortlens generate`: stress sets (stress.h), one list per
 * line in predict's syntax, for eval --input, mean --input and scripts. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "sortlens/stress.h"

#define DEFAULT_LISTS 1000
#define DEFAULT_SEED 1

static void usage(FILE *out)
{
    fprintf(out,
            "usage: sortlens generate --kind KIND [--lists N] [--seed S] [--model PATH [--step N]]\n"
            "\n"
            "Write N lists of KIND, one per line (values separated by spaces), for the\n"
            "model's list length n and value range 0..V-1.  The same kind, seed and\n"
            "model shape give the same lists.  The kinds:\n"
            "  uniform   the training distribution: n values uniform, repeats allowed\n"
            "  distinct  no value twice\n"
            "  pair      exactly one value twice, the rest distinct\n"
            "  triple    exactly one value three times, the rest distinct\n"
            "  cluster   every value within a window of max(n+2, V/4) consecutive values,\n"
            "            repeats allowed\n"
            "  gap       half the values (n/2, rounded down) in the lowest fifth of the\n"
            "            range, the rest in the highest fifth\n"
            "  run       n consecutive values, shuffled\n"
            "  constant  one value n times\n"
            "\n"
            "options:\n"
            "  --kind KIND    which kind (required)\n"
            "  --lists N      how many lists (default %d)\n"
            "  --seed S       seed (default %d)\n"
            "  --model PATH   the model whose n and V to use (default: the bundled model;\n"
            "                 a run directory: its last snapshot)\n"
            "  --step N       of a run, the last snapshot at or before step N\n"
            "  -h, --help     this help\n"
            "\n"
            "exit status: 0 ok, 1 the model cannot be loaded or the output not written,\n"
            "2 bad usage\n",
            DEFAULT_LISTS, DEFAULT_SEED);
}

int cmd_generate(int argc, char **argv)
{
    static const char *const rows[] = {"kind", "lists", "seed", "model", "step", NULL};
    CliShared sh = cli_shared_lists(DEFAULT_LISTS, LONG_MAX / 2, DEFAULT_SEED);
    int parsed = cli_args_shared_only("generate", argc, argv, rows, &sh, usage);
    if (parsed >= 0)
        return parsed;
    const char *model_path = sh.model, *kind_name = sh.kind;
    const long lists = sh.lists, seed = sh.seed, step = sh.step;
    SlStressKind kind;
    if (!kind_name) {
        cli_error("generate: --kind is required; try 'sortlens generate --help'");
        return EXIT_USAGE;
    }
    if (!cli_parse_stress_kind(kind_name, &kind))
        return EXIT_USAGE;
    SlModel *m = cli_load_model_at(model_path, step);
    if (!m)
        return EXIT_RUNTIME;
    const SlModelConfig *c = &m->cfg;
    SlError err = {0};
    int status = EXIT_OK, n = c->list_len;
    int *values = malloc((size_t)n * sizeof *values);
    if (!values) {
        cli_error("out of memory");
        status = EXIT_RUNTIME;
        goto done;
    }
    if (sl_stress_check(c, kind, &err)) {
        cli_error("--kind %s: %s", kind_name, err.message);
        status = EXIT_USAGE;
        goto done;
    }
    SlRng rng;
    sl_rng_seed(&rng, (uint64_t)seed);
    for (long i = 0; i < lists && !ferror(stdout); i++) {
        sl_stress_list(c, kind, &rng, values);
        for (int j = 0; j < n; j++)
            printf(j ? " %d" : "%d", values[j]);
        putchar('\n');
    }
done:
    free(values);
    sl_model_free(m);
    return status;
}
