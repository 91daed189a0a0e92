/* cmd_explain.c: `sortlens explain`.  To be written. */
#include "cli.h"

int cmd_explain(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    cli_error("explain: not implemented yet");
    return EXIT_RUNTIME;
}
