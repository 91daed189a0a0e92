/* popview.h: the explorer's population mode: the attention heatmap, the
 * sources' weights and the score decomposition under the cursor show means
 * over a population of lists (sl_population_mean, the numbers of
 * `sortlens mean --json`) instead of the list on screen.  A file of more
 * than POPVIEW_SYNC_LISTS lists is averaged in the background: until its
 * means are there, the list's own arrays are shown, and the output line
 * says how far the work has come.  The population is
 * POPVIEW_LISTS lists of a stress kind (uniform, the training distribution,
 * by default) from seed 1, or the lists of a file (`sortlens tui --input`,
 * then the default), computed when the mode or the kind changes, so that a
 * key press stays fast. */
#ifndef SORTLENS_POPVIEW_H
#define SORTLENS_POPVIEW_H

#include <stdbool.h>

#include "job.h"
#include "panels.h"
#include "sortlens/population.h"

#define POPVIEW_LISTS 1000
#define POPVIEW_SEED 1
#define POPVIEW_SYNC_LISTS 2000   /* a file with more lists is averaged in the background */

typedef struct PopView {
    bool on;
    SlStressKind kind;
    long lists;
    bool have;                 /* mean holds the population of kind */
    SlPopulationMean mean;
    int layer, head;           /* of the float arrays below, -1: none yet */
    float *pattern;            /* [T, T] the mean pattern of (layer, head) */
    float *scores;             /* [T, T] the mean score (sum of the mean terms); -inf on masked keys */
    float *score_terms;        /* [4, T, T] layer 0: the mean terms times sqrt(d_head), as the scene keeps them */
    const SlListFile *file;    /* the lists of --input, or NULL */
    const char *file_name;     /* its name, printable */
    bool from_file;            /* the population is the file's (else kind's) */
    char title[160];           /* "1000 uniform lists", "2000 lists of gap.txt" */
    /* a large file's means, computed on job into pending (untouched while it runs) */
    Job job;
    bool computing;
    const SlModel *job_model;
    SlPopulationMean pending;
    char note[256];            /* how far it has come, for the output line */
    char error[SL_ERROR_MAX];
} PopView;

/* The lists of a file (f outlives p; name printable) as the population,
 * from now on the first of the kinds M steps through. */
void popview_set_file(PopView *p, const SlListFile *f, const char *name);
/* Population mode on (computing the population when needed) / off. */
int popview_toggle(PopView *p, const SlModel *m, SlError *err);
/* The next (+1) / previous (-1) stress kind the model can make (the file's
 * lists first, when there is one); recomputes. */
int popview_step_kind(PopView *p, const SlModel *m, int delta, SlError *err);
/* The background work (a large file's means): whether it runs; tick says
 * whether the screen changed (progress, or the means arrived: 1), or fails
 * (a negative code, err filled, the mode off); wait blocks until it ends. */
bool popview_busy(const PopView *p);
int popview_tick(PopView *p, SlError *err);
void popview_wait(PopView *p);
/* Points the scene's attention arrays at the population's means for its
 * layer and head; the per-source logit column, a single list's, is left out. */
void popview_scene(PopView *p, Scene *sc);
/* The explorer shows another model (a run's other snapshot): the means of
 * the old one are dropped (its work stopped), and computed again for m when
 * the mode is on (when that fails the mode goes off, err says why). */
int popview_model_changed(PopView *p, const SlModel *m, SlError *err);
void popview_free(PopView *p);

#endif
