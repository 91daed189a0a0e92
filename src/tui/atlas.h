/* atlas.h: the explorer's failure atlas: where the model breaks, over
 * populations of lists.  One row per population (the lists of --input
 * FILE first when given, then ATLAS_LISTS lists of each stress kind from
 * ATLAS_SEED, as `sortlens explain` measures them), each with its greedy
 * list accuracy, token accuracy and lists wrong; then, for the population
 * selected last, the same by multiplicity and by largest gap, and the
 * histogram of the first wrong position.  The numbers are those of
 * `sortlens eval --json` on the same lists: sl_population_eval_each and its
 * breakdown (population.h).
 *
 * The populations are evaluated on a thread of their own, in order, so the
 * page opens at once and fills in; atlas_tick tells the key loop when to
 * draw again.  Each population keeps its first ATLAS_KEEP wrong lists, from
 * which a row's failures are taken (atlas_row_failures). */
#ifndef SORTLENS_ATLAS_H
#define SORTLENS_ATLAS_H

#include <stdatomic.h>
#include <stdbool.h>

#include "job.h"
#include "panels.h"
#include "sortlens/population.h"

#define ATLAS_LISTS 1000
#define ATLAS_SEED 1
#define ATLAS_KEEP 4096                      /* wrong lists kept of each population */
#define ATLAS_POPS (SL_STRESS_KINDS + 1)      /* the file's and the kinds' */
#define ATLAS_ROWS_MAX (ATLAS_POPS + 2 * SL_BREAKDOWN_BUCKETS + SL_MODEL_MAX_CTX / 2)

typedef struct AtlasPop {
    char name[72];            /* "uniform", or "lists of FILE" */
    bool file;
    SlStressKind kind;
    long lists;               /* to evaluate */
    SlEvalResult res;
    SlBreakdown bd;
    long wrong;               /* lists with a greedy error */
    long kept;                /* of them, kept in keep */
    int *keep;                /* [ATLAS_KEEP, n + 1]: each wrong list and its first wrong index */
} AtlasPop;

typedef struct Atlas {
    bool on;
    int sel;                  /* the selected row */
    int focus;                /* the population the breakdown rows describe */
    int first_line;           /* the page's scroll */
    long lists;               /* of each kind: ATLAS_LISTS (a test may take fewer) */
    const SlModel *m;         /* what the populations were (are being) evaluated on */
    const SlListFile *file;   /* --input, or NULL */
    const char *file_name;    /* printable */
    int n_pops;
    AtlasPop pops[ATLAS_POPS];
    long total;               /* lists of every population */
    /* the worker: it writes pops[i] before it makes ready i + 1; its
     * progress is the lists evaluated */
    Job job;
    atomic_int ready;         /* populations done, in order */
    int seen_ready;           /* what atlas_tick saw last */
    long seen_done;
    AtlasRow rows[ATLAS_ROWS_MAX];
} Atlas;

/* Sets up a (closed, nothing computed); file (may be NULL) outlives it. */
void atlas_init(Atlas *a, const SlListFile *file, const char *file_name);
/* Opens the page for model m, starting its evaluation unless it is done or
 * under way for m. */
int atlas_open(Atlas *a, const SlModel *m, SlError *err);
/* Another model is shown (a run's snapshot): what was computed goes; it is
 * computed again for m when the page is open. */
int atlas_model_changed(Atlas *a, const SlModel *m, SlError *err);
/* True when more has been computed since the last call (draw again). */
bool atlas_tick(Atlas *a);
/* Whether the worker is still evaluating. */
bool atlas_busy(const Atlas *a);
/* Waits until the worker is done (tests, and before freeing). */
void atlas_wait(Atlas *a);
/* Moves the selection by delta rows (clamped); a population's row becomes
 * the focus of the breakdown rows. */
void atlas_move(Atlas *a, int delta);
/* The first row of the next (+1) / previous (-1) section, the focus kept
 * (from a population's row to its breakdowns). */
void atlas_move_section(Atlas *a, int delta);
/* The next / previous population as the focus of the breakdown rows. */
void atlas_step_focus(Atlas *a, int delta);
/* The rows and sections to draw, into p (p->rows points into a). */
void atlas_panel(Atlas *a, AtlasPanel *p);
/* The wrong lists of the selected row (at most max, the first ones, as
 * they were evaluated) into out [max, n]: how many; *wrong the row's wrong
 * lists in all; what (size bytes) names the row ("gap lists with largest
 * gap 20+").  0 before the row is computed (what says so). */
long atlas_row_failures(const Atlas *a, int *out, long max, long *wrong, char *what, size_t size);
void atlas_free(Atlas *a);

#endif
