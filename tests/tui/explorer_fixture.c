/* explorer_fixture.c: the explorer on the bundled model (explorer_fixture.h). */
#include "explorer_fixture.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sortlens/checkpoint.h"
#include "sortlens/run.h"
#include "test_util.h"

bool explorer_fixture_open(ExplorerFixture *f)
{
    memset(f, 0, sizeof *f);
    SlError err = {0};
    if (!(f->m = sl_ckpt_load(bundled_model_path(), &err))) {
        printf("skipped: no bundled model (%s)\n", err.message);
        return false;
    }
    f->ex = explorer_new(f->m, "m", 1, &err);
    ck_assert_msg(f->ex != NULL, "%s", err.message);
    ck_assert_msg(explorer_set_list_text(f->ex, FIXTURE_LIST, &err) == 0, "%s", err.message);
    app_init(&f->a, f->ex, (Style){DEPTH_MONO, false});
    return true;
}

void explorer_fixture_open_run(ExplorerFixture *f, const char *run)
{
    memset(f, 0, sizeof *f);
    SlError err = {0};
    long step;
    char *last = sl_run_resolve(run, -1, &step, &err);
    ck_assert_msg(last != NULL, "%s", err.message);
    f->m = sl_ckpt_load(last, &err);
    free(last);
    ck_assert_msg(f->m != NULL, "%s", err.message);
    f->ex = explorer_new(f->m, run, 1, &err);
    ck_assert_msg(f->ex != NULL, "%s", err.message);
    ck_assert_msg(explorer_set_list_text(f->ex, FIXTURE_LIST, &err) == 0, "%s", err.message);
    app_init(&f->a, f->ex, (Style){DEPTH_MONO, false});
    f->a.snaps = snapshots_open(run, -1, f->m, &err);
    ck_assert_msg(f->a.snaps != NULL, "%s", err.message);
    ck_assert_msg(app_set_snapshot(&f->a, f->a.snaps->current, &err) == 0, "%s", err.message);
}

void explorer_fixture_close(ExplorerFixture *f)
{
    snapshots_free(f->a.snaps);
    app_free(&f->a);
    explorer_free(f->ex);
    sl_model_free(f->m);
    memset(f, 0, sizeof *f);
}

json_t *fixture_sortlens_json(char *const args[])
{
    char *out = NULL, *errtext = NULL;
    int status = run_sortlens(args, &out, &errtext);
    ck_assert_msg(status == 0, "sortlens %s: exit %d: %s", args[0], status, errtext ? errtext : "");
    json_error_t jerr;
    json_t *j = json_loads(out, 0, &jerr);
    ck_assert_msg(j != NULL, "sortlens %s: not JSON: %s", args[0], jerr.text);
    free(out);
    free(errtext);
    return j;
}

void fixture_generate(const char *kind, const char *lists, const char *seed, const char *path)
{
    char *args[] = {"generate", "--model", (char *)bundled_model_path(), "--kind", (char *)kind, "--lists",
                    (char *)lists, "--seed", (char *)seed, NULL};
    char *out = NULL, *errtext = NULL;
    int status = run_sortlens(args, &out, &errtext);
    ck_assert_msg(status == 0, "generate --kind %s: exit %d: %s", kind, status, errtext);
    FILE *f = fopen(path, "w");
    ck_assert(f && fputs(out, f) >= 0 && fclose(f) == 0);
    free(out);
    free(errtext);
}
