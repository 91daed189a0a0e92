/* explain.c: every metric of `sortlens explain` in one struct (explain.h). */
#include "sortlens/explain.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sortlens/population.h"

/* LAPACK's own (Fortran) routines, which OpenBLAS carries: called directly
 * rather than through LAPACKE, whose library pulls in the reference
 * LAPACK's loader chain (liblapack, libgfortran, libquadmath: 2.4 ms more
 * at every start of every command, measured).  Column-major arrays, every
 * argument by address, and the hidden lengths of the character arguments
 * last, as gfortran passes them. */
void dgesdd_(const char *jobz, const int *m, const int *n, double *a, const int *lda, double *s, double *u,
             const int *ldu, double *vt, const int *ldvt, double *work, const int *lwork, int *iwork, int *info,
             size_t jobz_len);
void dgeev_(const char *jobvl, const char *jobvr, const int *n, double *a, const int *lda, double *wr, double *wi,
            double *vl, const int *ldvl, double *vr, const int *ldvr, double *work, const int *lwork, int *info,
            size_t jobvl_len, size_t jobvr_len);

/* The workspace LAPACK asks for in a query (lwork -1), at least `least`. */
static double *lapack_work(double query, int least, int *lwork)
{
    *lwork = query > least ? (int)query : least;
    return malloc((size_t)*lwork * sizeof(double));
}

long sl_explain_work(long lists) { return lists * (SL_ABLATION_COUNT + SL_STRESS_KINDS); }

/* The value block [Vo, Vo] of circuit `kind` of (l, h), in double, column
 * major (LAPACK's order): block[j * Vo + i] = circuit[i, j]. */
static double *value_block(const SlModel *m, SlCircuitKind kind, int l, int h, SlError *err)
{
    SlNamedMatrix *nm = sl_circuit_get_kind(m, kind, l, h, err);
    if (!nm)
        return NULL;
    int Vo = m->cfg.d_vocab_out;
    double *a = malloc((size_t)Vo * Vo * sizeof *a);
    if (!a) {
        sl_error_set(err, SL_ENOMEM, "out of memory for the %s spectrum", nm->name);
    } else {
        for (int i = 0; i < Vo; i++)
            for (int j = 0; j < Vo; j++)
                a[(size_t)j * Vo + i] = nm->data[(size_t)i * nm->cols + j];
    }
    sl_named_matrix_free(nm);
    return a;
}

/* The top singular values of a [Vo, Vo] (destroyed) and their shares of
 * the sum of all squared singular values. */
static int top_singular(double *a, int Vo, int k, double *sv, double *share, SlError *err)
{
    double *s = malloc((size_t)Vo * sizeof *s);
    if (!s)
        return sl_error_set(err, SL_ENOMEM, "out of memory for singular values");
    /* singular values only (jobz 'N'), descending */
    int one = 1, query = -1, lwork, info = 0, *iwork = malloc(8 * (size_t)Vo * sizeof *iwork);
    double size = 0, unused = 0, *work = NULL;
    if (iwork)
        dgesdd_("N", &Vo, &Vo, a, &Vo, s, &unused, &one, &unused, &one, &size, &query, iwork, &info, 1);
    if (!iwork || !(work = lapack_work(size, 7 * Vo, &lwork))) {
        free(iwork);
        free(s);
        return sl_error_set(err, SL_ENOMEM, "out of memory for singular values");
    }
    dgesdd_("N", &Vo, &Vo, a, &Vo, s, &unused, &one, &unused, &one, work, &lwork, iwork, &info, 1);
    free(work);
    free(iwork);
    if (info != 0) {
        free(s);
        return sl_error_set(err, SL_EFORMAT, "the singular value decomposition did not converge (LAPACK info %d)",
                            (int)info);
    }
    double total = 0;
    for (int i = 0; i < Vo; i++)
        total += s[i] * s[i];
    for (int i = 0; i < k; i++) {
        sv[i] = s[i];
        share[i] = total > 0 ? s[i] * s[i] / total : 0.0;
    }
    free(s);
    return 0;
}

/* sum(eigenvalues) / sum(|eigenvalues|) of a [Vo, Vo] (destroyed), as
 * TransformerLens's copying score (FactoredMatrix.eigenvalues, then
 * eig.sum() / eig.abs().sum()); NAN when every eigenvalue is 0. */
static int copying_score(double *a, int Vo, double *score, SlError *err)
{
    double *wr = malloc((size_t)Vo * 2 * sizeof *wr), *wi = wr ? wr + Vo : NULL;
    if (!wr)
        return sl_error_set(err, SL_ENOMEM, "out of memory for eigenvalues");
    int one = 1, query = -1, lwork, info = 0;
    double size = 0, unused = 0, *work;
    dgeev_("N", "N", &Vo, a, &Vo, wr, wi, &unused, &one, &unused, &one, &size, &query, &info, 1, 1);
    if (!(work = lapack_work(size, 3 * Vo, &lwork))) {
        free(wr);
        return sl_error_set(err, SL_ENOMEM, "out of memory for eigenvalues");
    }
    dgeev_("N", "N", &Vo, a, &Vo, wr, wi, &unused, &one, &unused, &one, work, &lwork, &info, 1, 1);
    free(work);
    if (info != 0) {
        free(wr);
        return sl_error_set(err, SL_EFORMAT, "the eigenvalue computation did not converge (LAPACK info %d)", (int)info);
    }
    double sum = 0, abs_sum = 0;   /* complex pairs: the imaginary parts cancel in the sum */
    for (int i = 0; i < Vo; i++) {
        sum += wr[i];
        abs_sum += hypot(wr[i], wi[i]);
    }
    *score = abs_sum > 0 ? sum / abs_sum : NAN;
    free(wr);
    return 0;
}

/* The effective OV circuit's diagonal count (explain.h). */
static int effective_ov(const SlModel *m, int l, int h, int *hits, int *total, SlError *err)
{
    SlNamedMatrix *tok = sl_circuit_get_kind(m, SL_CIRCUIT_OV, l, h, err);
    SlNamedMatrix *pos = tok ? sl_circuit_get_kind(m, SL_CIRCUIT_OV_POS, l, h, err) : NULL;
    int n = m->cfg.list_len, Vo = m->cfg.d_vocab_out, rc = 0;
    double *mean_pos = pos ? calloc((size_t)Vo, sizeof *mean_pos) : NULL;
    if (!mean_pos) {
        rc = pos ? sl_error_set(err, SL_ENOMEM, "out of memory for the effective OV circuit") : (err ? err->code : SL_ENOMEM);
        goto done;
    }
    for (int p = 1; p <= n; p++)   /* the unsorted positions a_1..a_n */
        for (int v = 0; v < Vo; v++)
            mean_pos[v] += pos->data[(size_t)p * pos->cols + v] / n;
    *hits = 0;
    *total = Vo;
    for (int r = 0; r < Vo; r++) {
        int best = 0;
        const float *row = tok->data + (size_t)r * tok->cols;
        for (int v = 1; v < Vo; v++)   /* the first on ties, as torch.argmax */
            if (row[v] + mean_pos[v] > row[best] + mean_pos[best])
                best = v;
        *hits += best == r;
    }
done:
    free(mean_pos);
    sl_named_matrix_free(tok);
    sl_named_matrix_free(pos);
    return rc;
}

/* The spectral metrics of one head. */
static int spectra(const SlModel *m, SlExplainHead *x, SlError *err)
{
    int Vo = m->cfg.d_vocab_out, rc;
    x->n_singular = Vo < SL_EXPLAIN_TOP_SV ? Vo : SL_EXPLAIN_TOP_SV;
    double *a = value_block(m, SL_CIRCUIT_OV, x->layer, x->head, err);
    if (!a)
        return err ? err->code : SL_ENOMEM;
    double *b = malloc((size_t)Vo * Vo * sizeof *b);
    if (!b) {
        free(a);
        return sl_error_set(err, SL_ENOMEM, "out of memory for the OV spectrum");
    }
    memcpy(b, a, (size_t)Vo * Vo * sizeof *b);
    rc = copying_score(a, Vo, &x->ov_copying_score, err);
    if (!rc)
        rc = top_singular(b, Vo, x->n_singular, x->ov_singular, x->ov_singular_share, err);
    free(a);
    free(b);
    if (rc)
        return rc;
    if (!(a = value_block(m, SL_CIRCUIT_QK_TOKEN_TOKEN, x->layer, x->head, err)))
        return err ? err->code : SL_ENOMEM;
    rc = top_singular(a, Vo, x->n_singular, x->qk_singular, x->qk_singular_share, err);
    free(a);
    return rc;
}

/* The layer-0 head whose top key most often holds the answer: the one the
 * headline metrics describe (the only one in the seed model). */
static int primary_head(const SlExplainHead *hm, int H)
{
    int best = 0;
    for (int h = 1; h < H; h++)
        if (hm[h].att.top_source_correct > hm[best].att.top_source_correct)
            best = h;
    return best;
}

/* sqrt(sum of squares) of every parameter, in double. */
static double weight_norm(const SlModel *m)
{
    double sum = 0;
    for (size_t i = 0; i < m->num_params; i++)
        sum += (double)m->param_memory[i] * m->param_memory[i];
    return sqrt(sum);
}

int sl_explain_compute(const SlModel *m, long lists, uint64_t seed, SlExplain *out, SlProgressFn progress,
                       void *progress_ctx, SlError *err)
{
    const SlModelConfig *c = &m->cfg;
    int L = c->n_layers, H = c->n_heads, rc = 0;
    memset(out, 0, sizeof *out);
    if (lists < 1)
        return sl_error_set(err, SL_EINVAL, "the number of lists must be at least 1 (got %ld)", lists);
    out->lists = lists;
    out->seed = seed;
    out->n_heads = L * H;
    out->weight_norm = weight_norm(m);
    out->heads = calloc((size_t)L * H, sizeof *out->heads);
    SlAttentionStats *att = calloc((size_t)L * H, sizeof *att);
    if (!out->heads || !att) {
        rc = sl_error_set(err, SL_ENOMEM, "out of memory for the explain metrics");
        goto fail;
    }
    for (int l = 0; l < L; l++)
        for (int h = 0; h < H; h++) {
            SlExplainHead *x = &out->heads[l * H + h];
            x->layer = l;
            x->head = h;
            if ((rc = sl_circuit_ov_copy_count(m, l, h, &x->ov_hits, &x->ov_total, err)) ||
                (rc = sl_circuit_qk_next_token_count(m, l, h, &x->qk_hits, &x->qk_total, err)) ||
                (rc = effective_ov(m, l, h, &x->eff_ov_hits, &x->eff_ov_total, err)) || (rc = spectra(m, x, err)))
                goto fail;
        }
    if ((rc = sl_circuit_attention_stats(m, lists, seed, att, err)))
        goto fail;
    for (int i = 0; i < L * H; i++)
        out->heads[i].att = att[i];
    out->primary = primary_head(out->heads, H);
    if ((rc = sl_circuit_ablation_table(m, lists, seed, out->ablations, progress, progress_ctx, err)))
        goto fail;
    /* the stress sets after the ablation table */
    SlProgressPart sp = {progress, progress_ctx, lists * SL_ABLATION_COUNT, sl_explain_work(lists)};
    for (int k = 0; k < SL_STRESS_KINDS; k++) {
        SlStressSource s;
        SlListSource src;
        sp.offset = lists * (SL_ABLATION_COUNT + k);
        if (sl_stress_check(c, k, NULL))
            continue;   /* no such list for this shape: reported as impossible */
        out->stress[k].possible = true;
        if ((rc = sl_stress_source(&s, c, k, lists, seed, &src, err)) ||
            (rc = sl_population_eval(m, NULL, &src, &out->stress[k].res, NULL, progress ? sl_progress_part : NULL,
                                     progress ? &sp : NULL, err))) {
            sl_error_prefix(err, sl_stress_name(k));
            goto fail;
        }
    }
    free(att);
    return 0;
fail:
    free(att);
    sl_explain_free(out);
    return rc;
}

void sl_explain_free(SlExplain *x)
{
    if (!x)
        return;
    free(x->heads);
    x->heads = NULL;
    x->n_heads = 0;
}
