/* scene.c: what the panels share about a Scene: names of tokens and
 * positions, the circuit views' shapes, data and marks, and the one scroller. */
#include "panel_draw.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* panels.c: the explorer's panels, from a Scene to cells. */
#include "panels.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- scene helpers -------------------------------------------------------- */

void scene_token_label(const Scene *sc, int token, int width, char *buf, size_t size)
{
    if (token == sc->Vo)
        snprintf(buf, size, "%s", width >= 3 ? "BOS" : "B");
    else if (token == sc->Vo + 1)
        snprintf(buf, size, "%s", width >= 3 ? "MID" : "M");
    else
        snprintf(buf, size, "%d", token);
}
void scene_pos_name(const Scene *sc, int pos, char *buf, size_t size)
{
    if (pos == 0)
        snprintf(buf, size, "BOS");
    else if (pos <= sc->n)
        snprintf(buf, size, "a%d", pos);
    else if (pos == sc->n + 1)
        snprintf(buf, size, "MID");
    else
        snprintf(buf, size, "b%d", pos - sc->n - 1);
}
int scene_right(const Scene *sc, const int *pred)
{
    int right = 0;
    for (int i = 0; i < sc->n; i++)
        right += pred[i] == sc->sorted[i];
    return right;
}

void scene_circuit_shape(const Scene *sc, int view, int *rows, int *cols)
{
    if (view == SCENE_QK_COMBINED) {
        *rows = *cols = sc->V + sc->T;
        return;
    }
    bool out_cols = view == SL_CIRCUIT_OV || view == SL_CIRCUIT_OV_POS;
    *rows = circuit_axis_is_token(view, true) ? sc->V : sc->T;
    *cols = out_cols ? sc->Vo : circuit_axis_is_token(view, false) ? sc->V : sc->T;
}

const float *scene_circuit_data(const Scene *sc, int view, float *range)
{
    if (view < 0 || view >= SCENE_VIEWS) {
        *range = 0;
        return NULL;
    }
    *range = sc->circuit_max[view];
    return sc->circuit[view];
}

const char *circuit_view_name(int view)
{
    static const char *names[SCENE_VIEWS] = {
        [SL_CIRCUIT_QK_TOKEN_TOKEN] = "QK token-token", [SL_CIRCUIT_QK_TOKEN_POS] = "QK token-pos",
        [SL_CIRCUIT_QK_POS_TOKEN] = "QK pos-token", [SL_CIRCUIT_QK_POS_POS] = "QK pos-pos",
        [SL_CIRCUIT_OV] = "OV token", [SL_CIRCUIT_OV_POS] = "OV position", [SCENE_QK_COMBINED] = "QK combined"};
    return view >= 0 && view < SCENE_VIEWS ? names[view] : "?";
}

const char *circuit_view_formula(int view)
{
    static const char *f[SCENE_VIEWS] = {
        [SL_CIRCUIT_QK_TOKEN_TOKEN] = "W_E W_Q W_K^T W_E^T", [SL_CIRCUIT_QK_TOKEN_POS] = "W_E W_Q W_K^T W_pos^T",
        [SL_CIRCUIT_QK_POS_TOKEN] = "W_pos W_Q W_K^T W_E^T", [SL_CIRCUIT_QK_POS_POS] = "W_pos W_Q W_K^T W_pos^T",
        [SL_CIRCUIT_OV] = "W_E W_V W_O W_U", [SL_CIRCUIT_OV_POS] = "W_pos W_V W_O W_U",
        [SCENE_QK_COMBINED] = "[W_E; W_pos] W_Q W_K^T [W_E; W_pos]^T"};
    return view >= 0 && view < SCENE_VIEWS ? f[view] : "?";
}

void scene_circuit_marks(const Scene *sc, int view, int *row, int *col)
{
    int q = sc->sel, k = sc->cursor, i = scene_pred_index(sc, q);
    int out = i >= 0 ? sc->pred[i] : -1;
    if (view == SCENE_QK_COMBINED) {   /* the token-token block's cell; the position rows are marked too */
        *row = sc->tokens[q];
        *col = sc->tokens[k];
    } else if (circuit_kind_is_qk(view)) {   /* the query's row, the cursor's key */
        *row = circuit_axis_is_token(view, true) ? sc->tokens[q] : q;
        *col = circuit_axis_is_token(view, false) ? sc->tokens[k] : k;
    } else {                          /* the source's row, the predicted value */
        *row = circuit_axis_is_token(view, true) ? sc->tokens[k] : k;
        *col = out;
    }
}

int scene_circuit_answer_col(const Scene *sc, int view)
{
    int i = scene_pred_index(sc, sc->sel);
    if (i < 0 || !sc->sorted)
        return -1;
    int ans = sc->sorted[i];
    if (circuit_kind_is_qk(view) && !circuit_axis_is_token(view, false)) {   /* key positions: where the answer sits */
        for (int p = 1; p <= sc->n; p++)
            if (sc->values && sc->values[p - 1] == ans)
                return p;
        return -1;
    }
    return ans;
}

int scroll_first(ScrollWant w)
{
    if (w.visible < 1)
        w.visible = 1;
    if (w.visible >= w.count)
        return 0;
    int first = w.prev;
    if (first < 0 || w.keep_lo < first || w.keep_hi >= first + w.visible) {
        first = (w.lo + w.hi) / 2 - w.visible / 2;
        if (w.hi - w.lo >= w.visible)
            first = w.anchor - w.visible / 2;
    }
    if (first > w.count - w.visible)
        first = w.count - w.visible;
    if (first < 0)
        first = 0;
    return first;
}

/* The window that keeps a and b in view (a wins when both do not fit). */
int scroll_pair(int count, int visible, int a, int b)
{
    return scroll_first((ScrollWant){count, visible, a < b ? a : b, a < b ? b : a, a, -1, 0, 0});
}
