/* population_input.c: the lists a population command (eval, mean) reads:
 * the file of --input, or random lists from --lists and --seed. */
#include <string.h>

#include "cli.h"
#include "sortlens/listfile.h"

int cli_population_open(CliPopulation *p, const SlModelConfig *c, const char *input, SlStressKind kind, long lists,
                        long seed, SlError *err)
{
    p->file = NULL;
    if (!input)   /* the same lists sl_decode_eval draws from this seed */
        return sl_stress_source(&p->stress, c, kind, lists, (uint64_t)seed, &p->src, err);
    if (!(p->file = sl_list_file_open(c, input, err)))
        return err->code;
    sl_list_file_source(p->file, &p->src);
    return 0;
}

void cli_population_close(CliPopulation *p)
{
    sl_list_file_close(p->file);
    p->file = NULL;
}

const char *cli_input_label(const char *input)
{
    return strcmp(input, "-") ? cli_text(input) : "standard input";
}
