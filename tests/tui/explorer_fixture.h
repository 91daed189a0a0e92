/* explorer_fixture.h: the explorer as the tests of its state open it: the
 * bundled model, an explorer on the README's list, and an App (monochrome,
 * ASCII) driving it, as tui.c would without a terminal. */
#ifndef SORTLENS_EXPLORER_FIXTURE_H
#define SORTLENS_EXPLORER_FIXTURE_H

#include <jansson.h>
#include <stdbool.h>

#include "app.h"

#define FIXTURE_LIST "42 17 26 3 49 0 26 11 8 30"

typedef struct ExplorerFixture {
    SlModel *m;
    Explorer *ex;
    App a;
} ExplorerFixture;

/* Opens f; false (printing "skipped: ..." for the test to return on) when
 * the bundled model is not there.  A failure past the model fails the test. */
bool explorer_fixture_open(ExplorerFixture *f);
/* Opens f as the explorer opens a run directory: its last snapshot shown,
 * a->snaps on the run (the run of test_make_run); closing frees them. */
void explorer_fixture_open_run(ExplorerFixture *f, const char *run);
/* What these tests compare against: build/sortlens run with args (a
 * command with --json, NULL-terminated), which must exit 0, its output
 * parsed (json_decref it). */
json_t *fixture_sortlens_json(char *const args[]);
/* `sortlens generate --kind KIND --lists N --seed S` on the bundled model,
 * written to path: the lists the tests hand the explorer as a file. */
void fixture_generate(const char *kind, const char *lists, const char *seed, const char *path);
/* Frees the app, the explorer and the model. */
void explorer_fixture_close(ExplorerFixture *f);

#endif
