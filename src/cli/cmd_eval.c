/* cmd_eval.c: `sortlens eval`.  To be written. */
#include "cli.h"

int cmd_eval(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    cli_error("eval: not implemented yet");
    return EXIT_RUNTIME;
}
