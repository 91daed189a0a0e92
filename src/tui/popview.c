/* popview.c: the population mode (popview.h). */
#include "popview.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The float arrays and the title, once p->mean holds the population's means. */
static int finish(PopView *p, SlError *err)
{
    size_t TT = (size_t)p->mean.T * p->mean.T;
    free(p->pattern);
    free(p->scores);
    free(p->score_terms);
    p->pattern = malloc(TT * sizeof *p->pattern);
    p->scores = malloc(TT * sizeof *p->scores);
    p->score_terms = malloc(4 * TT * sizeof *p->score_terms);
    if (!p->pattern || !p->scores || !p->score_terms)
        return sl_error_set(err, SL_ENOMEM, "out of memory for the population's means");
    p->have = true;
    p->layer = p->head = -1;
    if (p->from_file)
        snprintf(p->title, sizeof p->title, "%ld lists of %s", p->mean.lists, p->file_name);
    else
        snprintf(p->title, sizeof p->title, "%ld %s lists", p->mean.lists, sl_stress_name(p->kind));
    return 0;
}

/* The file's means, on the job's thread, into p->pending. */
static int mean_work(Job *job, void *ctx, SlError *err)
{
    PopView *p = ctx;
    SlListFileReader reader;
    JobSource js;
    SlListSource src;
    sl_list_file_reader_source(&reader, p->file, &js.inner);
    job_source(&js, job, &src);
    return sl_population_mean(p->job_model, &src, &p->pending, job_progress, job, err);
}

/* Forgets the means, and stops the work on any (the float arrays stay
 * allocated, for the next ones). */
static void drop(PopView *p)
{
    job_stop(&p->job);   /* the means of another population, or model: not wanted now */
    p->computing = false;
    sl_population_mean_free(&p->pending);
    sl_population_mean_free(&p->mean);
    memset(&p->mean, 0, sizeof p->mean);
    p->have = false;
    p->layer = p->head = -1;
}

static int compute(PopView *p, const SlModel *m, SlError *err)
{
    drop(p);
    if (p->lists <= 0)
        p->lists = POPVIEW_LISTS;
    if (p->from_file && sl_list_file_count(p->file) > POPVIEW_SYNC_LISTS) {
        p->job_model = m;
        int rc = job_start(&p->job, mean_work, p, err);
        p->computing = rc == 0;
        return rc;
    }
    SlStressSource stress;
    SlListFileReader reader;
    SlListSource src;
    int rc = 0;
    if (p->from_file)
        sl_list_file_reader_source(&reader, p->file, &src);
    else
        rc = sl_stress_source(&stress, &m->cfg, p->kind, p->lists, POPVIEW_SEED, &src, err);
    if (!rc)
        rc = sl_population_mean(m, &src, &p->mean, NULL, NULL, err);
    return rc ? rc : finish(p, err);
}

bool popview_busy(const PopView *p) { return job_running(&p->job); }

int popview_tick(PopView *p, SlError *err)
{
    if (!p->computing)
        return 0;
    if (!job_finished(&p->job))
        return p->on;   /* the progress note moves on */
    job_reap(&p->job);
    p->computing = false;
    if (p->job.rc) {
        p->on = false;
        return sl_error_set(err, p->job.rc, "the population's means: %s", p->job.err.message);
    }
    p->mean = p->pending;   /* the job has ended: its result is ours */
    memset(&p->pending, 0, sizeof p->pending);
    int rc = finish(p, err);
    if (rc)
        p->on = false;
    return rc ? rc : 1;
}

void popview_wait(PopView *p) { job_wait(&p->job); }

void popview_set_file(PopView *p, const SlListFile *f, const char *name)
{
    p->file = f;
    p->file_name = name ? name : "FILE";
    p->from_file = f != NULL;
    p->have = false;
}

int popview_toggle(PopView *p, const SlModel *m, SlError *err)
{
    if (p->on) {
        p->on = false;
        return 0;
    }
    if (!p->have && !p->computing) {
        int rc = compute(p, m, err);
        if (rc)
            return rc;
    }
    p->on = true;
    return 0;
}

int popview_step_kind(PopView *p, const SlModel *m, int delta, SlError *err)
{
    /* the populations in order: the file's (-1, when there is one), then the kinds */
    const int first = p->file ? -1 : 0, count = SL_STRESS_KINDS - first;
    int k = p->from_file ? -1 : (int)p->kind;
    for (int tries = 0; tries < count; tries++) {
        k = (k - first + delta + count) % count + first;
        if (k < 0 || sl_stress_check(&m->cfg, (SlStressKind)k, NULL) == 0)
            break;
    }
    SlStressKind before = p->kind;
    bool before_file = p->from_file;
    p->from_file = k < 0;
    if (k >= 0)
        p->kind = (SlStressKind)k;
    int rc = compute(p, m, err);
    if (rc) {
        p->kind = before;
        p->from_file = before_file;
        p->on = false;
        return rc;
    }
    p->on = true;
    return 0;
}

/* The float arrays of (layer, head) from the double means. */
static void fill(PopView *p, int layer, int head, int d_head)
{
    const SlPopulationMean *pm = &p->mean;
    int T = pm->T, H = pm->H;
    size_t TT = (size_t)T * T;
    const double *pat = pm->pattern + ((size_t)layer * H + head) * TT;
    double root = sqrt((double)d_head);
    for (int q = 0; q < T; q++)
        for (int k = 0; k < T; k++) {
            size_t i = (size_t)q * T + k;
            p->pattern[i] = (float)pat[i];
            double s = 0;
            for (int t = 0; t < 4; t++) {
                double x = layer == 0 ? pm->score_terms[((size_t)t * H + head) * TT + i] : NAN;
                p->score_terms[t * TT + i] = (float)(x * root);
                s += x;
            }
            p->scores[i] = k > q ? -INFINITY : (float)s;
        }
    p->layer = layer;
    p->head = head;
}

void popview_scene(PopView *p, Scene *sc)
{
    if (p->on && p->computing) {   /* the list's own arrays until the means are there, and how far they are */
        long total = sl_list_file_count(p->file), done = atomic_load(&p->job.done);
        snprintf(p->note, sizeof p->note, "averaging %ld lists of %s: %ld%%; the list's own attention until then",
                 total, p->file_name, total > 0 ? done * 100 / total : 0);
        sc->message = p->note;
        sc->message_bad = false;
        return;
    }
    if (!p->on || !p->have || sc->T != p->mean.T || sc->layer >= p->mean.L || sc->head >= p->mean.H)
        return;
    if (p->layer != sc->layer || p->head != sc->head)
        fill(p, sc->layer, sc->head, sc->E);
    sc->pattern = p->pattern;
    sc->scores = p->scores;
    sc->score_terms = sc->layer == 0 ? p->score_terms : NULL;
    sc->ov_src = NULL;
    sc->population = p->title;
    sc->named_positions = true;   /* the axes are positions: the tokens vary over the population */
    const float *row = p->pattern + (size_t)sc->sel * sc->T;
    int best = 0;
    for (int k = 1; k <= sc->sel && k < sc->T; k++)
        if (row[k] > row[best])
            best = k;
    sc->top_source = best;
}

int popview_model_changed(PopView *p, const SlModel *m, SlError *err)
{
    drop(p);
    if (!p->on)
        return 0;
    int rc = compute(p, m, err);
    if (rc)
        p->on = false;
    return rc;
}

void popview_free(PopView *p)
{
    job_stop(&p->job);
    sl_population_mean_free(&p->pending);
    sl_population_mean_free(&p->mean);
    free(p->pattern);
    free(p->scores);
    free(p->score_terms);
    memset(p, 0, sizeof *p);
}
