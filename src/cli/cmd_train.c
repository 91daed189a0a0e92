/* cmd_train.c: `sortlens train`.  To be written. */
#include "cli.h"

int cmd_train(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    cli_error("train: not implemented yet");
    return EXIT_RUNTIME;
}
