/* cmd_info.c: `sortlens info`.  To be written. */
#include "cli.h"

int cmd_info(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    cli_error("info: not implemented yet");
    return EXIT_RUNTIME;
}
