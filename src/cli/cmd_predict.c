/* cmd_predict.c: `sortlens predict`.  To be written. */
#include "cli.h"

int cmd_predict(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    cli_error("predict: not implemented yet");
    return EXIT_RUNTIME;
}
