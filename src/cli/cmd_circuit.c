/* cmd_circuit.c: `sortlens circuit`.  To be written. */
#include "cli.h"

int cmd_circuit(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    cli_error("circuit: not implemented yet");
    return EXIT_RUNTIME;
}
