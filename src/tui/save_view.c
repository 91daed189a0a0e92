/* save_view.c: the view on screen as an SVG file (`S`). */
#include "save_view.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "app.h"
#include "sortlens/atomic_write.h"

static SlPlotView circuit_plot_view(int view)
{
    switch (view) {
    case SL_CIRCUIT_QK_TOKEN_TOKEN: return SL_PLOT_QK_TOKEN_TOKEN;
    case SL_CIRCUIT_QK_TOKEN_POS: return SL_PLOT_QK_TOKEN_POS;
    case SL_CIRCUIT_QK_POS_TOKEN: return SL_PLOT_QK_POS_TOKEN;
    case SL_CIRCUIT_QK_POS_POS: return SL_PLOT_QK_POS_POS;
    case SL_CIRCUIT_OV_POS: return SL_PLOT_OV_POS;
    default: return SL_PLOT_OV;
    }
}

SlPlotView save_view_of(const App *a)
{
    const Scene *sc = explorer_scene(a->ex);
    if (a->curves.on && a->snaps)
        return SL_PLOT_PROGRESS;
    bool circuits = a->zoom || (a->paged && a->page == PAGE_CIRCUITS);
    if (a->pair.on && (circuits || !a->paged))
        return SL_PLOT_PATCH;
    if (a->facet == FACET_TERMS && (circuits || !a->paged))
        return SL_PLOT_QK_FACET;
    if (a->facet == FACET_COMBINED && (circuits || !a->paged))
        return SL_PLOT_QK_COMBINED;
    if (circuits)
        return circuit_plot_view(sc->focus_view);
    if (a->pop.on)
        return SL_PLOT_MEAN_ATTENTION;
    return sc->show_scores ? SL_PLOT_SCORES : SL_PLOT_ATTENTION;
}

/* The bytes to a new file through the one writer: whole or not at all
 * (synced, and nothing half-written under the name even after kill -9), and
 * never in place of anything (sl_atomic_commit_new); 1 when the name is
 * taken. */
static int write_new(const char *path, const unsigned char *data, size_t size, SlError *err)
{
    struct stat st;
    if (lstat(path, &st) == 0)
        return 1;   /* taken: no need to write it out to find that */
    SlAtomicFile *f = sl_atomic_open(path, err);
    if (!f)
        return err->code < 0 ? err->code : SL_EIO;
    int rc = sl_atomic_write(f, data, size, err);
    if (rc) {
        sl_atomic_abort(f);
        return rc;
    }
    return sl_atomic_commit_new(f, err);
}

/* The progress page's figure, once every snapshot is measured. */
static int render_progress(const App *a, unsigned char **data, size_t *len, SlError *err)
{
    const Curves *c = &a->curves;
    int ready = atomic_load(&c->ready);
    if (ready < c->count)
        return sl_error_set(err, SL_EINVAL, "the curves are still being measured (%d of %d snapshots)", ready, c->count);
    const char *base = strrchr(c->dir, '/');
    SlPlotCurves cs = {base && base[1] ? base + 1 : c->dir, c->count, c->steps, c->values, c->lists, SL_CURVE_SEED};
    return sl_plot_curves_render(&cs, SL_PLOT_SVG, data, len, err);
}

int save_view(const App *a, char *path, size_t size, SlError *err)
{
    const Scene *sc = explorer_scene(a->ex);
    SlPlotView view = save_view_of(a);
    if (view == SL_PLOT_MEAN_ATTENTION && (a->pop.from_file || a->pop.kind != SL_STRESS_UNIFORM))
        return sl_error_set(err, SL_EINVAL, "S draws the means of uniform lists only (sortlens plot mean-attention); "
                            "this population is %s", a->pop.title);
    SlPlotRequest req;
    sl_plot_request_init(&req, view);
    req.list = view == SL_PLOT_PATCH ? a->pair.clean : sc->values;
    req.corrupt = view == SL_PLOT_PATCH ? sc->values : NULL;
    req.greedy = sc->greedy;
    req.at = sc->sel;
    req.layer = sc->layer;
    req.head = sc->head;
    req.labels = sc->named_positions ? SL_PLOT_LABEL_NAMES : SL_PLOT_LABEL_VALUES;
    req.iv = explorer_intervention(a->ex);
    req.model_label = sc->model_label;
    req.lists = a->pop.lists;
    unsigned char *data = NULL;
    size_t len = 0;
    int rc = view == SL_PLOT_PROGRESS ? render_progress(a, &data, &len, err)
                                      : sl_plot_render(explorer_model(a->ex), &req, SL_PLOT_SVG, &data, &len, err);
    if (rc < 0)
        return rc;
    for (int n = 1; n < 100000; n++) {
        snprintf(path, size, "sortlens-%s-%d.svg", sl_plot_view_name(view), n);
        rc = write_new(path, data, len, err);
        if (rc <= 0) {
            free(data);
            return rc;
        }
    }
    free(data);
    return sl_error_set(err, SL_EIO, "sortlens-%s-1.svg .. -99999.svg all exist", sl_plot_view_name(view));
}
