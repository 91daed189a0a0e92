/* cmd_convert.c: `sortlens convert`.  To be written. */
#include "cli.h"

int cmd_convert(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    cli_error("convert: not implemented yet");
    return EXIT_RUNTIME;
}
