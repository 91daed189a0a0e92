/* atlas.c: the failure atlas (atlas.h). */
#include "atlas.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sortlens/progress.h"

static void clear_pops(Atlas *a)
{
    for (int i = 0; i < ATLAS_POPS; i++) {
        free(a->pops[i].keep);
        a->pops[i].keep = NULL;
    }
    a->n_pops = 0;
    a->total = 0;
    atomic_store(&a->ready, 0);
    a->seen_ready = -1;
    a->seen_done = -1;
}

void atlas_init(Atlas *a, const SlListFile *file, const char *file_name)
{
    memset(a, 0, sizeof *a);
    a->file = file;
    a->file_name = file_name ? file_name : "FILE";
    a->lists = ATLAS_LISTS;
    job_init(&a->job);
    atomic_init(&a->ready, 0);
    a->seen_ready = a->seen_done = -1;
}

/* ---- the worker ------------------------------------------------------------ */

static void keep_wrong(void *ctx, const int *values, const SlListOutcome *o)
{
    AtlasPop *p = ctx;
    const int n = p->bd.n;
    if (o->first_wrong < 0)
        return;
    p->wrong++;
    if (p->kept < ATLAS_KEEP) {
        int *d = p->keep + (size_t)p->kept * (n + 1);
        memcpy(d, values, (size_t)n * sizeof *d);
        d[n] = o->first_wrong;
        p->kept++;
    }
}

static int work(Job *job, void *ctx, SlError *err)
{
    Atlas *a = ctx;
    const SlModel *m = a->m;
    const int n = m->cfg.list_len;
    long offset = 0;
    for (int i = 0; i < a->n_pops; i++) {
        AtlasPop *p = &a->pops[i];
        SlStressSource stress;
        SlListFileReader reader;
        JobSource js;
        SlListSource src;
        if (!(p->keep = malloc((size_t)ATLAS_KEEP * (n + 1) * sizeof *p->keep)))
            return sl_error_set(err, SL_ENOMEM, "out of memory for the atlas's wrong lists");
        int rc = 0;
        if (p->file)
            sl_list_file_reader_source(&reader, a->file, &js.inner);
        else
            rc = sl_stress_source(&stress, &m->cfg, p->kind, p->lists, ATLAS_SEED, &js.inner, err);
        job_source(&js, job, &src);
        SlProgressPart part = {job_progress, job, offset, a->total};
        sl_breakdown_init(&p->bd, n);   /* keep_wrong reads n from it from the first list */
        if (!rc)
            rc = sl_population_eval_each(m, NULL, &src, &p->res, &p->bd, keep_wrong, p, sl_progress_part, &part, err);
        if (rc)
            return rc;
        offset += p->lists;
        atomic_store(&a->ready, i + 1);   /* pops[i] is complete: the page may read it */
    }
    return 0;
}

static int start(Atlas *a, const SlModel *m, SlError *err)
{
    job_stop(&a->job);
    clear_pops(a);
    a->m = m;
    if (a->file) {
        AtlasPop *p = &a->pops[a->n_pops++];
        memset(p, 0, sizeof *p);
        p->file = true;
        p->lists = sl_list_file_count(a->file);
        snprintf(p->name, sizeof p->name, "lists of %s", a->file_name);
    }
    for (int k = 0; k < SL_STRESS_KINDS; k++) {
        if (sl_stress_check(&m->cfg, (SlStressKind)k, NULL))
            continue;   /* no such lists for this model's shape */
        AtlasPop *p = &a->pops[a->n_pops++];
        memset(p, 0, sizeof *p);
        p->kind = (SlStressKind)k;
        p->lists = a->lists;
        snprintf(p->name, sizeof p->name, "%s", sl_stress_name(p->kind));
    }
    for (int i = 0; i < a->n_pops; i++)
        a->total += a->pops[i].lists;
    if (a->focus >= a->n_pops)
        a->focus = 0;
    return job_start(&a->job, work, a, err);
}

/* The worker's failure, once it has finished (NULL: none, or stopped on request). */
static const char *failure(const Atlas *a)
{
    if (!job_finished(&a->job) || a->job.rc == 0 || a->job.rc == SL_EINTR)
        return NULL;
    return a->job.err.message;
}

int atlas_open(Atlas *a, const SlModel *m, SlError *err)
{
    a->on = true;
    if (a->m == m && a->n_pops > 0 && !failure(a))
        return 0;   /* done or under way (a failed run is tried again) */
    return start(a, m, err);
}

int atlas_model_changed(Atlas *a, const SlModel *m, SlError *err)
{
    job_stop(&a->job);
    clear_pops(a);
    a->m = NULL;
    return a->on ? start(a, m, err) : 0;
}

bool atlas_busy(const Atlas *a) { return job_running(&a->job); }

void atlas_wait(Atlas *a) { job_wait(&a->job); }

bool atlas_tick(Atlas *a)
{
    int ready = atomic_load(&a->ready);
    bool finished = job_finished(&a->job);
    long seen = finished ? -2 : atomic_load(&a->job.done);   /* the end is a change of its own (a failure to show) */
    job_reap(&a->job);
    bool changed = ready != a->seen_ready || seen != a->seen_done;
    a->seen_ready = ready;
    a->seen_done = seen;
    return changed;
}

/* ---- rows ---------------------------------------------------------------------- */

static int n_rows(const Atlas *a)
{
    int n = a->m ? a->m->cfg.list_len : 0;
    return a->n_pops + 2 * SL_BREAKDOWN_BUCKETS + n;
}

void atlas_move(Atlas *a, int delta)
{
    int count = n_rows(a);
    a->sel += delta;
    if (a->sel >= count)
        a->sel = count - 1;
    if (a->sel < 0)
        a->sel = 0;
    if (a->sel < a->n_pops)
        a->focus = a->sel;
}

/* The first row of each section, and the end. */
static int section_starts(const Atlas *a, int *start)
{
    start[0] = 0;
    start[1] = a->n_pops;
    start[2] = start[1] + SL_BREAKDOWN_BUCKETS;
    start[3] = start[2] + SL_BREAKDOWN_BUCKETS;
    start[4] = n_rows(a);
    return 4;
}

void atlas_move_section(Atlas *a, int delta)
{
    int start[5], count = section_starts(a, start), s = 0;
    while (s + 1 < count && a->sel >= start[s + 1])
        s++;
    s += delta;
    s = s < 0 ? 0 : s >= count ? count - 1 : s;
    a->sel = start[s];
    if (a->sel < a->n_pops)
        a->focus = a->sel;
}

void atlas_step_focus(Atlas *a, int delta)
{
    if (a->n_pops == 0)
        return;
    a->focus = (a->focus + delta + a->n_pops) % a->n_pops;
    if (a->sel < a->n_pops)
        a->sel = a->focus;
}

static double ratio(long num, long den) { return den > 0 ? (double)num / (double)den : NAN; }

static void bucket_row(AtlasRow *r, const char *label, const SlBucket *b, bool ready)
{
    snprintf(r->label, sizeof r->label, "%s", label);
    r->lists = ready ? b->lists : -1;
    r->share = ratio(b->lists_right, b->lists);
    r->token_acc = ratio(b->tokens_right, b->tokens);
    r->wrong = b->lists - b->lists_right;
}

void atlas_panel(Atlas *a, AtlasPanel *p)
{
    const int ready = atomic_load(&a->ready), n = a->m ? a->m->cfg.list_len : 0;
    memset(p, 0, sizeof *p);
    p->rows = a->rows;
    p->sel = a->sel;
    p->first_line = a->first_line;
    p->title = "failure atlas   Up/Down: row  Tab: section  Left/Right: population  Enter: its wrong lists (, .)  "
               "A/Esc: back";
    static char note[SL_ERROR_MAX + 64];
    const char *why = failure(a);
    if (why) {
        snprintf(note, sizeof note, "the atlas stopped: %s", why);
        p->note = note;
        p->note_bad = true;
    } else if (ready < a->n_pops) {
        snprintf(note, sizeof note, "evaluating: %d of %d populations, %ld of %ld lists", ready, a->n_pops,
                 atomic_load(&a->job.done), a->total);
        p->note = note;
    }
    int r = 0;
    AtlasSectionView *sv = &p->sections[p->n_sections++];
    if (a->file)
        snprintf(sv->title, sizeof sv->title, "by population: the lists of %s, then %ld lists of each kind (seed %d)",
                 a->file_name, a->lists, ATLAS_SEED);
    else
        snprintf(sv->title, sizeof sv->title, "by kind of list: %ld lists of each (seed %d); list acc: greedy, every b_i right",
                 a->lists, ATLAS_SEED);
    sv->first = r;
    for (int i = 0; i < a->n_pops; i++, r++) {
        const AtlasPop *pp = &a->pops[i];
        AtlasRow *row = &a->rows[r];
        snprintf(row->label, sizeof row->label, "%s", pp->file ? "--input" : pp->name);
        bool have = i < ready;
        row->lists = have ? pp->res.lists : -1;
        row->share = have ? pp->res.list_accuracy : NAN;
        row->token_acc = have ? pp->res.token_accuracy : NAN;
        row->wrong = have ? pp->wrong : -1;
    }
    sv->count = r - sv->first;
    if (a->n_pops == 0) {
        p->n_sections = 1;
        return;
    }
    const AtlasPop *f = &a->pops[a->focus];
    bool have = a->focus < ready;
    static const char *const titles[2] = {"by the largest multiplicity of a value",
                                          "by the largest gap between sorted neighbours"};
    for (int axis = 0; axis < 2; axis++) {
        sv = &p->sections[p->n_sections++];
        snprintf(sv->title, sizeof sv->title, "%s, %s", f->name, titles[axis]);
        sv->first = r;
        for (int b = 0; b < SL_BREAKDOWN_BUCKETS; b++, r++)
            bucket_row(&a->rows[r], sl_breakdown_bucket_label((SlBreakdownAxis)axis, b), &f->bd.bucket[axis][b], have);
        sv->count = SL_BREAKDOWN_BUCKETS;
    }
    sv = &p->sections[p->n_sections++];
    if (have)
        snprintf(sv->title, sizeof sv->title, "%s, first wrong position: the share of the %ld wrong lists", f->name,
                 f->wrong);
    else
        snprintf(sv->title, sizeof sv->title, "%s, first wrong position", f->name);
    sv->histogram = true;
    sv->first = r;
    for (int i = 0; i < n; i++, r++) {
        AtlasRow *row = &a->rows[r];
        snprintf(row->label, sizeof row->label, "b%d", i + 1);
        row->lists = have ? f->bd.first_wrong[i] : -1;
        row->share = have ? ratio(f->bd.first_wrong[i], f->wrong) : NAN;
        row->token_acc = NAN;
        row->wrong = -1;
    }
    sv->count = n;
}

long atlas_row_failures(const Atlas *a, int *out, long max, long *wrong, char *what, size_t size)
{
    const int ready = atomic_load(&a->ready), n = a->m ? a->m->cfg.list_len : 0;
    int sel = a->sel, pop = sel < a->n_pops ? sel : a->focus;
    *wrong = 0;
    if (a->n_pops == 0 || pop >= ready) {
        snprintf(what, size, "this row, not computed yet");
        return 0;
    }
    const AtlasPop *p = &a->pops[pop];
    char noun[96];
    if (p->file)
        snprintf(noun, sizeof noun, "the %s", p->name);
    else
        snprintf(noun, sizeof noun, "%s lists", p->name);
    int axis = -1, bucket = -1, first = -1;
    int r = sel - a->n_pops;
    if (sel < a->n_pops) {
        snprintf(what, size, "%s", noun);
        *wrong = p->wrong;
    } else if (r < 2 * SL_BREAKDOWN_BUCKETS) {
        axis = r / SL_BREAKDOWN_BUCKETS;
        bucket = r % SL_BREAKDOWN_BUCKETS;
        snprintf(what, size, "%s with %s %s", noun, axis == SL_BY_MULTIPLICITY ? "multiplicity" : "largest gap",
                 sl_breakdown_bucket_label((SlBreakdownAxis)axis, bucket));
        const SlBucket *b = &p->bd.bucket[axis][bucket];
        *wrong = b->lists - b->lists_right;
    } else {
        first = r - 2 * SL_BREAKDOWN_BUCKETS;
        snprintf(what, size, "%s first wrong at b%d", noun, first + 1);
        *wrong = p->bd.first_wrong[first];
    }
    long got = 0;
    for (long i = 0; i < p->kept && got < max; i++) {
        const int *v = p->keep + (size_t)i * (n + 1);
        if (first >= 0 && v[n] != first)
            continue;
        if (axis >= 0) {
            int which[SL_BREAKDOWN_AXES];
            sl_breakdown_buckets(n, v, which);
            if (which[axis] != bucket)
                continue;
        }
        memcpy(out + (size_t)got * n, v, (size_t)n * sizeof *out);
        got++;
    }
    return got;
}

void atlas_free(Atlas *a)
{
    job_stop(&a->job);
    clear_pops(a);
}
