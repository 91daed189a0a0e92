/* train_args.h: the command line of `sortlens train` (train_args.c). */
#ifndef SORTLENS_CLI_TRAIN_ARGS_H
#define SORTLENS_CLI_TRAIN_ARGS_H

#include <stdbool.h>

#include "sortlens/model.h"
#include "sortlens/train.h"

/* Everything the command line sets. */
typedef struct TrainArgs {
    SlTrainOptions o;
    SlModelConfig c;
    const char *out;
    long eval_every, eval_lists, threads;
    long snapshot_every, snapshots;
    const char *init;   /* --init MODEL */
    bool *not_recipe;   /* [argc]: the words of --out, left out of training_command */
} TrainArgs;

/* Fills t from the command line (t->not_recipe: argc + 1 entries, zeroed),
 * then checks the options against each other and completes the config.
 * Returns -1 when all is well, else the exit status (0 after --help). */
int train_args_parse(TrainArgs *t, int argc, char **argv);

/* The command line, shell-quoted where needed, for the metadata; the words
 * marked in skip are left out.  NULL when out of memory. */
char *train_args_command(int argc, char **argv, const bool *skip);

#endif
