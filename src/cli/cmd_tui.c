/* cmd_tui.c: `sortlens tui`.  To be written. */
#include "cli.h"

int cmd_tui(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    cli_error("tui: not implemented yet");
    return EXIT_RUNTIME;
}
