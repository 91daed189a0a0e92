/* eval.c: evaluation over lists (decode.h: SlEvaluator, sl_decode_eval):
 * teacher-forced accuracy and loss, and greedy whole-list accuracy, with the
 * lists of each call split over worker threads.  The figures do not depend
 * on the number of workers: counts are sums of integers, and the loss is
 * added list by list in the lists' order. */
#include "sortlens/decode.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "forward_internal.h"
#include "parallel.h"
#include "sortlens/blas_runtime.h"
#include "sortlens/breakdown.h"
#include "sortlens/parse_int.h"
#include "sortlens/task.h"

#define EVAL_BATCH 256        /* lists per forward (the general path: at most) */
#define EVAL_MIN_PART 512     /* lists a worker gets at the least */
#define EVAL_MAX_WORKERS 8
#define EVAL_CALL 4096        /* lists sl_decode_eval_path draws and hands over at a time */

/* Teacher-forced and greedy evaluation of one list on the tables path.
 * While the model's own predictions equal the true values, greedy decoding
 * sees exactly the teacher-forced prefix, so its logits are the
 * teacher-forced row just computed: the first teacher-forced error is also
 * greedy's first error, and the teacher-forced rows are all greedy needs. */
static void eval_tables_list(TablesRun *r, const int *tok /* [n_ctx], the true sequence */, float *row, long *tok_right,
                             long *pos_right, long *list_right, double *list_loss, SlListOutcome *outcome)
{
    const SlModelConfig *c = &r->m->cfg;
    const int n = c->list_len, Vo = c->d_vocab_out;
    int diverged = -1;   /* the greedy step whose prediction was first wrong */
    int right = 0;
    /* The list's loss is the sum over its rows of log-sum-exp less the
     * label's logit, mx + log(sum) - row[label]: the logs of the sums are
     * taken as one log of their product (each sum is 1..Vo), which is what
     * turned ten calls of log a list into one. */
    double loss = 0.0, sums = 1.0;
    tables_run_reset(r);
    for (int i = 0; i < n; i++) {
        int q = n + 1 + i, label = tok[q + 1];
        tables_run_query(r, tok, q, row);
        float mx, sum;
        int a = r->k->row_argmax_expsum(row, Vo, &mx, &sum);
        if (a == label) {
            right++;
            pos_right[i]++;
        } else if (diverged < 0) {
            diverged = i;
        }
        loss += (double)mx - row[label];
        sums *= sum;
        if (sums > 1e250) {   /* long lists: take the log before the product overflows */
            loss += log(sums);
            sums = 1.0;
        }
    }
    loss += log(sums);
    *list_loss = loss;
    *tok_right += right;
    outcome->tokens_right = right;
    outcome->first_wrong = diverged;
    /* Greedy decoding made the true sequence, hence all of it right, or
     * went wrong at `diverged`; what it would decode after that changes no
     * figure (the list is wrong whatever follows), so it is not decoded. */
    if (diverged < 0)
        (*list_right)++;
}

/* Lists per batch on the general path: as many as keep every layer's keys
 * and values (L x T x 2 H E floats a list) within 2 MB, 16 to EVAL_BATCH.
 * Chosen when eval still decoded greedily (each step read them all: at 256
 * lists of a 2 x 2 model, 11 MB, from memory), it still pays for the
 * teacher-forced forward alone, whose activations then stay in the caches:
 * eval of 10,000 lists of a 2 x 2 model took 0.35-0.41 s at 48 against
 * 0.41-0.44 s at 256. */
static int general_eval_batch(const SlModelConfig *c)
{
    const double per_list = (double)c->n_layers * c->n_ctx * 2 * c->n_heads * c->d_head * sizeof(float);
    const double lists = (2 << 20) / per_list;
    return lists < 16 ? 16 : lists > EVAL_BATCH ? EVAL_BATCH : (int)lists;
}

/* One worker's workspace and totals.  Each call's lists are cut into one
 * contiguous part per worker; a part's fields say which. */
typedef struct EvalWorker {
    SlActCache *cache;
    TablesRun run;
    float *row;            /* [Vo] */
    int *tokens;           /* [batch, T] */
    SlListOutcome *outcome;   /* [batch] the current batch's */
    long tok_right, list_right;
    long *pos_right;       /* [n] */
    SlBreakdown bd;        /* of this worker's lists: buckets from the sorted half it has made anyway */
    /* this call's part */
    const int *values;     /* [nb, n] */
    long nb;
    SlListOutcome *outcomes;   /* [nb] or NULL */
    double *list_loss;     /* [nb] each list's summed loss */
    int rc;
    SlError err;
} EvalWorker;

/* The running totals and the workspaces of one evaluation (decode.h). */
struct SlEvaluator {
    const SlModel *m;
    const SlIntervention *iv;
    int resolved;          /* SL_FORWARD_TABLES or SL_FORWARD_GENERAL */
    int batch;             /* lists per forward on the general path */
    int workers;
    EvalWorker *w;         /* [workers] */
    double *list_loss;     /* [loss_cap] the current call's, in list order */
    long loss_cap;
    long lists;
    double loss;           /* summed list by list in list order: the same for any number of workers */
};

static void worker_free(EvalWorker *w)
{
    sl_cache_free(w->cache);
    free(w->row);
    free(w->tokens);
    free(w->outcome);
    free(w->pos_right);
}

void sl_evaluator_free(SlEvaluator *ev)
{
    if (!ev)
        return;
    for (int i = 0; ev->w && i < ev->workers; i++)
        worker_free(&ev->w[i]);
    free(ev->w);
    free(ev->list_loss);
    free(ev);
}

static int worker_init(EvalWorker *w, const SlEvaluator *ev, SlError *err)
{
    const SlModelConfig *c = &ev->m->cfg;
    const int n = c->list_len, T = c->n_ctx, Vo = c->d_vocab_out;
    const bool tables = ev->resolved == SL_FORWARD_TABLES;
    w->cache = sl_cache_new(c, tables ? 1 : ev->batch, T, err);   /* the tables path needs only its workspace */
    if (!w->cache)
        return err ? err->code : SL_ENOMEM;
    w->row = malloc((size_t)Vo * sizeof *w->row);
    w->tokens = malloc((size_t)ev->batch * T * sizeof *w->tokens);
    w->pos_right = calloc((size_t)n, sizeof *w->pos_right);
    w->outcome = malloc((size_t)ev->batch * sizeof *w->outcome);
    if (!w->row || !w->tokens || !w->pos_right || !w->outcome)
        return sl_error_set(err, SL_ENOMEM, "out of memory for evaluation");
    sl_breakdown_init(&w->bd, n);
    return tables ? tables_run_begin(&w->run, ev->m, T, w->cache, ev->iv, err) : 0;
}

/* $SORTLENS_THREADS: its count 1..EVAL_MAX_WORKERS, 0 when unset or empty,
 * -1 for anything else (then as if unset; sl_eval_threads_check_env says so). */
static int env_threads(void)
{
    const char *env = getenv("SORTLENS_THREADS");
    int64_t given;
    if (!env || !*env)
        return 0;
    return sl_parse_i64(env, 1, EVAL_MAX_WORKERS, &given, NULL) == 0 ? (int)given : -1;
}

int sl_eval_threads(void)
{
    int env = env_threads();
    if (env > 0)
        return env;
    int n = parallel_processors();
    return n < EVAL_MAX_WORKERS ? n : EVAL_MAX_WORKERS;
}

int sl_eval_threads_check_env(SlError *err)
{
    if (env_threads() >= 0)
        return SL_OK;
    return sl_error_set(err, SL_EINVAL, "SORTLENS_THREADS='%.32s' is not a count from 1 to %d; using %d",
                        getenv("SORTLENS_THREADS"), EVAL_MAX_WORKERS, sl_eval_threads());
}

/* Workers of an evaluation (sl_eval_threads).  On the general path every
 * worker's products take an OpenBLAS working buffer of their own, so under
 * an address-space limit too small for them all, one worker does it all
 * (the figures are the same; only the time differs). */
static int eval_workers(int resolved)
{
    int workers = sl_eval_threads();
    if (workers > 1 && resolved != SL_FORWARD_TABLES && sl_blas_check_memory(workers, NULL) != 0)
        workers = 1;
    return workers;
}

SlEvaluator *sl_evaluator_new(const SlModel *m, const SlIntervention *iv, SlForwardPath path, SlError *err)
{
    const SlModelConfig *c = &m->cfg;
    if (sl_intervention_validate(iv, c, err))
        return NULL;
    int resolved = forward_resolve_path(m, path, err);
    if (resolved < 0)
        return NULL;
    SlEvaluator *ev = calloc(1, sizeof *ev);
    if (!ev) {
        sl_error_set(err, SL_ENOMEM, "out of memory for evaluation");
        return NULL;
    }
    ev->m = m;
    ev->iv = iv;
    ev->resolved = resolved;
    ev->batch = resolved == SL_FORWARD_TABLES ? EVAL_BATCH : general_eval_batch(c);
    ev->workers = eval_workers(resolved);
    if (!(ev->w = calloc((size_t)ev->workers, sizeof *ev->w))) {
        sl_error_set(err, SL_ENOMEM, "out of memory for evaluation");
        goto fail;
    }
    for (int i = 0; i < ev->workers; i++)
        if (worker_init(&ev->w[i], ev, err))
            goto fail;
    return ev;
fail:
    sl_evaluator_free(ev);
    return NULL;
}

/* One batch of nb <= ev->batch lists into worker w's totals; each list's
 * outcome into w->outcome [nb] and its loss into list_loss [nb]. */
static int evaluate_batch(const SlEvaluator *ev, EvalWorker *w, const int *values, int nb, double *list_loss,
                          SlError *err)
{
    const SlModel *m = ev->m;
    const SlModelConfig *c = &m->cfg;
    const int n = c->list_len, T = c->n_ctx, Vo = c->d_vocab_out;
    int *tokens = w->tokens;
    SlListOutcome *out = w->outcome;
    for (int b = 0; b < nb; b++)
        sl_task_make_tokens(c, values + (size_t)b * n, tokens + (size_t)b * T);
    if (ev->resolved == SL_FORWARD_TABLES) {
        for (int b = 0; b < nb; b++)
            eval_tables_list(&w->run, tokens + (size_t)b * T, w->row, &w->tok_right, w->pos_right, &w->list_right,
                             list_loss + b, out + b);
        return 0;
    }
    /* teacher-forced: the logits of the n prediction positions */
    SlActCache *cache = w->cache;
    int rc = forward_logits_rows(m, tokens, nb, T, n + 1, 2 * n + 1, cache, ev->iv, ev->resolved, err);
    if (rc)
        return rc;
    /* greedy, as on the tables path (eval_tables_list): the teacher-forced
     * prefix until the first mistake, which is greedy's first mistake.  So
     * under an intervention too: each one acts on positions of the sequence
     * (forward.h), the same at every step of greedy decoding. */
    for (int b = 0; b < nb; b++) {
        int right = 0, first = -1;
        for (int i = 0; i < n; i++) {
            int a = ops_argmax(cache->logits + ((size_t)b * T + n + 1 + i) * Vo, Vo);
            if (a == tokens[(size_t)b * T + n + 2 + i]) {
                right++;
                w->pos_right[i]++;
            } else if (first < 0) {
                first = i;
            }
        }
        w->tok_right += right;
        w->list_right += first < 0;
        out[b] = (SlListOutcome){.tokens_right = right, .first_wrong = first};
        list_loss[b] = decode_loss_sum(c, cache->logits + (size_t)b * T * Vo, tokens + (size_t)b * T, 1);
    }
    return 0;
}

/* Worker wi's part of the current call, batch by batch. */
static void evaluate_part(void *ctx, int wi)
{
    const SlEvaluator *ev = ctx;
    EvalWorker *w = &ev->w[wi];
    const int n = ev->m->cfg.list_len, T = ev->m->cfg.n_ctx;
    w->rc = 0;
    for (long done = 0; done < w->nb && !w->rc;) {
        int nb = w->nb - done < ev->batch ? (int)(w->nb - done) : ev->batch;
        w->rc = evaluate_batch(ev, w, w->values + (size_t)done * n, nb, w->list_loss + done, &w->err);
        if (w->rc)
            break;
        for (int b = 0; b < nb; b++)   /* the sorted half of each list's tokens */
            sl_breakdown_add_sorted(&w->bd, w->tokens + (size_t)b * T + n + 2, &w->outcome[b]);
        if (w->outcomes)
            memcpy(w->outcomes + done, w->outcome, (size_t)nb * sizeof *w->outcome);
        done += nb;
    }
}

int sl_evaluator_add(SlEvaluator *ev, const int *values, long B, SlListOutcome *outcomes, SlError *err)
{
    const SlModelConfig *c = &ev->m->cfg;
    const int n = c->list_len;
    if (B <= 0)
        return 0;
    int rc = decode_check_values(ev->m, values, B, err);
    if (rc)
        return rc;
    if (B > ev->loss_cap) {
        double *p = realloc(ev->list_loss, (size_t)B * sizeof *p);
        if (!p)
            return sl_error_set(err, SL_ENOMEM, "out of memory for evaluation");
        ev->list_loss = p;
        ev->loss_cap = B;
    }
    /* Parts of at least EVAL_MIN_PART lists (fewer are not worth a thread),
     * and a whole number of batches each: the batches are then the same lists
     * whatever the number of workers, and so are their logits, which BLAS
     * may round differently for another number of rows (valgrind's
     * processor showed it: the loss moved in its ninth digit). */
    long workers = (B + EVAL_MIN_PART - 1) / EVAL_MIN_PART;
    if (workers > ev->workers)
        workers = ev->workers;
    long per = (B + workers - 1) / workers;
    per = (per + ev->batch - 1) / ev->batch * ev->batch;
    workers = (B + per - 1) / per;
    for (long i = 0; i < workers; i++) {
        EvalWorker *w = &ev->w[i];
        long start = i * per;
        w->nb = start < B ? (B - start < per ? B - start : per) : 0;
        w->values = values + (size_t)start * n;
        w->outcomes = outcomes ? outcomes + start : NULL;
        w->list_loss = ev->list_loss + start;
    }
    parallel_run((int)workers, evaluate_part, ev);
    for (long i = 0; i < workers; i++)
        if (ev->w[i].rc) {
            if (err)
                *err = ev->w[i].err;
            return ev->w[i].rc;
        }
    for (long b = 0; b < B; b++)
        ev->loss += ev->list_loss[b];
    ev->lists += B;
    return 0;
}

void sl_evaluator_breakdown(const SlEvaluator *ev, SlBreakdown *bd)
{
    sl_breakdown_init(bd, ev->m->cfg.list_len);
    for (int i = 0; i < ev->workers; i++)
        sl_breakdown_merge(bd, &ev->w[i].bd);
}

void sl_evaluator_result(const SlEvaluator *ev, SlEvalResult *res)
{
    const int n = ev->m->cfg.list_len;
    double lists = ev->lists > 0 ? (double)ev->lists : NAN;
    long tok_right = 0, list_right = 0;
    memset(res, 0, sizeof *res);
    for (int i = 0; i < ev->workers; i++) {
        tok_right += ev->w[i].tok_right;
        list_right += ev->w[i].list_right;
        for (int p = 0; p < n; p++)
            res->per_position_accuracy[p] += (double)ev->w[i].pos_right[p];
    }
    res->lists = ev->lists;
    res->token_accuracy = (double)tok_right / (lists * n);
    res->list_accuracy = (double)list_right / lists;
    res->loss = ev->loss / (lists * n);
    for (int p = 0; p < n; p++)
        res->per_position_accuracy[p] /= lists;
}

int sl_decode_eval_path(const SlModel *m, long lists, uint64_t seed, const SlIntervention *iv, SlForwardPath path,
                     SlEvalResult *res, SlProgressFn progress, void *progress_ctx, SlError *err)
{
    const SlModelConfig *c = &m->cfg;
    const int n = c->list_len;
    if (lists < 1)
        return sl_error_set(err, SL_EINVAL, "evaluation over %ld lists: need at least 1", lists);
    SlEvaluator *ev = sl_evaluator_new(m, iv, path, err);
    if (!ev)
        return err ? err->code : SL_ENOMEM;
    int rc = 0;
    const int batch = lists < EVAL_CALL ? (int)lists : EVAL_CALL;
    int *values = malloc((size_t)batch * n * sizeof *values);
    if (!values) {
        rc = sl_error_set(err, SL_ENOMEM, "out of memory for evaluation");
        goto done;
    }
    SlRng rng;
    sl_rng_seed(&rng, seed);
    for (long done_lists = 0; done_lists < lists;) {
        int nb = lists - done_lists < batch ? (int)(lists - done_lists) : batch;
        for (int b = 0; b < nb; b++)
            sl_task_random_list(c, &rng, values + (size_t)b * n);
        if ((rc = sl_evaluator_add(ev, values, nb, NULL, err)))
            goto done;
        done_lists += nb;
        if (progress)
            progress(progress_ctx, done_lists, lists);
    }
    sl_evaluator_result(ev, res);
done:
    sl_evaluator_free(ev);
    free(values);
    return rc;
}

int sl_decode_eval(const SlModel *m, long lists, uint64_t seed, const SlIntervention *iv, SlEvalResult *res, SlProgressFn progress,
                void *progress_ctx, SlError *err)
{
    return sl_decode_eval_path(m, lists, seed, iv, SL_FORWARD_AUTO, res, progress, progress_ctx, err);
}
