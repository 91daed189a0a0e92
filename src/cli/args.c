/* args.c: the one walk over a subcommand's arguments (getopt_long) and the
 * parsers of option values, with the messages every command shares. */
#include "cli.h"

#include "sortlens/parse_double.h"
#include "sortlens/parse_int.h"

#include <assert.h>
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
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

/* The shared rows (cli.h); their vals are above every command's own
 * (characters, and train's enum from 256). */
enum {
    ROW_MODEL = 0x5340, ROW_LISTS, ROW_SEED, ROW_LAYER, ROW_HEAD, ROW_ABLATE, ROW_RESAMPLE_SEED, ROW_INPUT, ROW_KIND,
    ROW_LIST, ROW_JSON
};
static const struct option shared_rows[] = {
    {"model", required_argument, NULL, ROW_MODEL},
    CLI_STEP_OPTION,
    {"lists", required_argument, NULL, ROW_LISTS},
    {"seed", required_argument, NULL, ROW_SEED},
    {"layer", required_argument, NULL, ROW_LAYER},
    {"head", required_argument, NULL, ROW_HEAD},
    {"ablate", required_argument, NULL, ROW_ABLATE},
    {"resample-seed", required_argument, NULL, ROW_RESAMPLE_SEED},
    {"input", required_argument, NULL, ROW_INPUT},
    {"kind", required_argument, NULL, ROW_KIND},
    {"list", required_argument, NULL, ROW_LIST},
    {"json", no_argument, NULL, ROW_JSON},
};

CliShared cli_shared(void)
{
    return (CliShared){.step = -1, .resample_seed = 1, .lists = 1, .lists_max = 1,
                       .layer_max = SL_MODEL_MAX_LAYERS - 1, .head_max = SL_MODEL_MAX_HEADS - 1};
}

CliShared cli_shared_lists(long lists, long lists_max, long seed)
{
    CliShared s = cli_shared();
    s.lists = lists;
    s.lists_max = lists_max;
    s.seed = seed;
    return s;
}

void cli_args_begin_shared(CliArgs *a, const char *cmd, int argc, char **argv, const struct option *opts,
                           CliShared *shared)
{
    cli_args_begin(a, cmd, argc, argv, opts);
    enum { cap = sizeof a->all / sizeof a->all[0] };   /* an enum, so release builds (no assert) do not warn */
    size_t n = 0;
    for (const struct option *o = opts; o->name; o++) {
        assert(n + 1 < cap);   /* a table longer than any command's */
        a->all[n] = *o;
        if (o->val == CLI_SHARED) {
            size_t i = 0;
            while (i < sizeof shared_rows / sizeof shared_rows[0] && strcmp(shared_rows[i].name, o->name) != 0)
                i++;
            assert(i < sizeof shared_rows / sizeof shared_rows[0]);   /* CLI_SHARED_ROW of a row that exists */
            a->all[n] = shared_rows[i];
        }
        n++;
    }
    memset(&a->all[n], 0, sizeof a->all[n]);   /* the table's end */
    a->opts = a->all;
    a->shared = shared;
}

/* A shared row's value into a->shared; false after the message. */
static bool shared_value(CliArgs *a, int c, const char *val)
{
    CliShared *s = a->shared;
    switch (c) {
    case ROW_MODEL: s->model = val; return true;
    case CLI_OPT_STEP: return cli_parse_step(val, &s->step);
    case ROW_LISTS: return (s->lists_given = cli_parse_long("--lists", val, 1, s->lists_max, &s->lists));
    case ROW_SEED: return (s->seed_given = cli_parse_long("--seed", val, 0, LONG_MAX, &s->seed));
    case ROW_LAYER: return (s->layer_given = cli_parse_long("--layer", val, 0, s->layer_max, &s->layer));
    case ROW_HEAD: return (s->head_given = cli_parse_long("--head", val, 0, s->head_max, &s->head));
    case ROW_ABLATE: s->ablate = val; return true;
    case ROW_RESAMPLE_SEED: return cli_parse_long("--resample-seed", val, 0, LONG_MAX, &s->resample_seed);
    case ROW_INPUT: s->input = val; return true;
    case ROW_KIND: s->kind = val; return true;
    case ROW_LIST: s->list = val; return true;
    case ROW_JSON: s->json = true; return true;
    }
    return true;
}

static bool is_shared(const CliArgs *a, int c)
{
    return a->shared && ((c >= ROW_MODEL && c <= ROW_JSON) || c == CLI_OPT_STEP);
}

bool cli_append_word(char **joined, size_t *len, const char *word)
{
    size_t wl = strlen(word);
    char *grown = realloc(*joined, *len + wl + 2);
    if (!grown)
        return false;
    *joined = grown;
    memcpy(grown + *len, word, wl);
    *len += wl;
    grown[(*len)++] = ' ';
    grown[*len] = '\0';
    return true;
}

static int next_row(CliArgs *a, const char **value);

int cli_args_next(CliArgs *a, const char **value)
{
    for (;;) {
        int c = next_row(a, value);
        if (!is_shared(a, c))
            return c;
        if (!shared_value(a, c, *value))
            return CLI_ARG_BAD;
    }
}

/* One option or positional, shared rows included. */
static int next_row(CliArgs *a, const char **value)
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
        return next_row(a, value);
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

int cli_args_walk(CliArgs *a, void (*usage)(FILE *out), CliApplyFn apply, void *ctx)
{
    const char *val;
    for (int c; (c = cli_args_next(a, &val)) != CLI_ARG_END;) {
        if (c == 'h') {
            usage(stdout);
            return EXIT_OK;
        }
        if (c == CLI_ARG_BAD)   /* reported */
            return EXIT_USAGE;
        if (!apply)
            return c == CLI_ARG_POSITIONAL ? cli_args_unexpected(a, val) : EXIT_USAGE;
        if (!apply(ctx, c, val))
            return EXIT_USAGE;
    }
    return -1;
}

int cli_args_shared_only(const char *cmd, int argc, char **argv, const char *const *rows, CliShared *shared,
                         void (*usage)(FILE *out))
{
    CliArgs a;
    enum { cap = sizeof a.all / sizeof a.all[0] };
    struct option opts[cap];
    size_t n = 0;
    for (; rows[n]; n++) {
        assert(n + 2 < cap);   /* room for --help and the end */
        opts[n] = (struct option)CLI_SHARED_ROW(rows[n]);
    }
    opts[n++] = (struct option){"help", no_argument, NULL, 'h'};
    opts[n] = (struct option){NULL, 0, NULL, 0};
    cli_args_begin_shared(&a, cmd, argc, argv, opts, shared);   /* copies the table into a.all */
    return cli_args_walk(&a, usage, NULL, NULL);
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

bool cli_parse_stress_kind(const char *text, SlStressKind *kind)
{
    SlError err = {0};
    if (sl_stress_from_name(text, kind, &err)) {
        cli_error("--kind: %s", err.message);
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
