/* args.c: the one walk over a subcommand's arguments (getopt_long) and the
 * parsers of option values, with the messages every command shares. */
#include "cli.h"

#include "sortlens/parse_double.h"
#include "sortlens/parse_int.h"

#include <getopt.h>
#include <string.h>


/* Only -h is a short option; every other option is long.  "+" stops getopt
 * at the first positional argument, so that cli_args_next hands positionals
 * back in order itself (and can take "-3" as one). */
#define SHORT_OPTIONS "+:h"

void cli_args_begin(CliArgs *a, const char *cmd, int argc, char **argv, const struct option *opts)
{
    memset(a, 0, sizeof *a);
    a->cmd = cmd;
    a->argc = argc;
    a->argv = argv;
    a->opts = opts;
    optind = 0;   /* glibc: 0 starts a fresh scan */
    opterr = 0;   /* the messages are ours */
}

/* "--name" or "--name=value": how many options' names start with name, and
 * the first of them. */
static int prefix_matches(const struct option *opts, const char *arg, const struct option **first)
{
    const char *name = arg + 2;
    size_t len = strcspn(name, "=");
    int n = 0;
    for (const struct option *o = opts; o->name; o++)
        if (strncmp(o->name, name, len) == 0) {
            if (strlen(o->name) == len) {   /* an exact name is never ambiguous */
                *first = o;
                return 1;
            }
            if (n++ == 0)
                *first = o;
        }
    return n;
}

static int report(CliArgs *a, int c)
{
    const char *arg = a->argv[a->first];
    const struct option *o = NULL;
    bool is_long = strncmp(arg, "--", 2) == 0;
    int matches = is_long ? prefix_matches(a->opts, arg, &o) : 0;
    int name_len = is_long ? (int)strcspn(arg, "=") : (int)strlen(arg);
    char name[256];   /* the option as typed, up to '=', escaped for the message */
    snprintf(name, sizeof name, "%.*s", name_len < 200 ? name_len : 200, arg);
    if (c == ':')
        cli_error("%s: %s needs a value; try 'sortlens %s --help'", a->cmd, cli_text(arg), a->cmd);
    else if (matches == 1 && o->has_arg == no_argument && strchr(arg, '='))
        cli_error("%s: --%s takes no value; try 'sortlens %s --help'", a->cmd, o->name, a->cmd);
    else if (matches > 1)
        cli_error("%s: '%s' is ambiguous (--%s or another); try 'sortlens %s --help'", a->cmd, cli_text(name),
                  o->name, a->cmd);
    else
        cli_error("%s: unknown option '%s'; try 'sortlens %s --help'", a->cmd, cli_text(name), a->cmd);
    return CLI_ARG_BAD;
}

int cli_args_next(CliArgs *a, const char **value)
{
    *value = NULL;
    if (optind == 0)
        optind = 1;   /* before the first getopt_long; it re-initialises on 0 only, see begin */
    if (optind >= a->argc)
        return CLI_ARG_END;
    a->first = optind;
    const char *arg = a->argv[optind];
    bool looks_like_option = arg[0] == '-' && arg[1] != '\0' && !(arg[1] >= '0' && arg[1] <= '9');
    if (!a->dashes && strcmp(arg, "--") == 0) {
        a->dashes = true;
        optind++;
        return cli_args_next(a, value);
    }
    if (a->dashes || !looks_like_option) {
        *value = arg;
        a->end = ++optind;
        return CLI_ARG_POSITIONAL;
    }
    int index = -1;
    int c = getopt_long(a->argc, a->argv, SHORT_OPTIONS, a->opts, &index);
    a->end = optind;
    if (c == -1)   /* not reached: "--" and positionals are handled above */
        return CLI_ARG_END;
    if (c == '?' || c == ':')
        return report(a, c);
    if (index >= 0)
        snprintf(a->name, sizeof a->name, "--%s", a->opts[index].name);
    else
        snprintf(a->name, sizeof a->name, "-%c", c);
    *value = optarg;
    return c;
}

int cli_args_unexpected(CliArgs *a, const char *arg)
{
    cli_error("%s: unexpected argument '%s'; try 'sortlens %s --help'", a->cmd, cli_text(arg), a->cmd);
    return EXIT_USAGE;
}

bool cli_parse_long(const char *opt, const char *text, long min, long max, long *out)
{
    SlError err = {0};
    int64_t v;
    if (sl_parse_i64(text, min, max, &v, &err)) {
        cli_error("%s: %s", opt, err.message);
        return false;
    }
    *out = (long)v;
    return true;
}

bool cli_parse_u64(const char *opt, const char *text, uint64_t max, uint64_t *out)
{
    SlError err = {0};
    if (sl_parse_u64(text, 0, max, out, &err)) {
        cli_error("%s: %s", opt, err.message);
        return false;
    }
    return true;
}

bool cli_parse_double(const char *opt, const char *text, double *out)
{
    SlError err = {0};
    if (sl_parse_double(text, out, &err)) {
        cli_error("%s: %s", opt, err.message);
        return false;
    }
    return true;
}
