/* test_run.c: training runs on disk: run directories, the snapshot plan, the
 * training state, and through the command line snapshots, --resume, --init,
 * run directories as --model, explain over a run and compare. */
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sortlens/checkpoint.h"
#include "sortlens/run.h"
#include "sortlens/safetensors.h"
#include "sortlens/train.h"
#include "sortlens/train_state.h"
#include "test_util.h"

/* ---- helpers ------------------------------------------------------------- */

/* A fresh empty directory under /tmp; the caller removes it with rm_tree. */
static char *temp_dir(void)
{
    char *d = strdup("/tmp/sortlens-run-XXXXXX");
    ck_assert(mkdtemp(d) != NULL);
    return d;
}

static void rm_tree(const char *dir)
{
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert(system(cmd) == 0);
}

static void touch(const char *dir, const char *name)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    ck_assert(f != NULL);
    fclose(f);
}

static char *path_in(const char *dir, const char *name)
{
    char *p = malloc(strlen(dir) + strlen(name) + 2);
    sprintf(p, "%s/%s", dir, name);
    return p;
}

static bool files_equal(const char *a, const char *b)
{
    size_t la, lb;
    char *fa = slurp_file(a, &la), *fb = slurp_file(b, &lb);
    bool same = la == lb && memcmp(fa, fb, la) == 0;
    free(fa);
    free(fb);
    return same;
}

/* Every tensor of a and b: the same names, dtypes, shapes and bytes (the
 * metadata may differ). */
static void assert_same_tensors(const char *a, const char *b)
{
    SlError err = {0};
    SlTensorSet *ta = sl_safetensors_read(a, &err);
    ck_assert_msg(ta != NULL, "%s", err.message);
    SlTensorSet *tb = sl_safetensors_read(b, &err);
    ck_assert_msg(tb != NULL, "%s", err.message);
    ck_assert_int_eq(ta->count, tb->count);
    for (int i = 0; i < ta->count; i++) {
        const SlTensor *x = &ta->items[i], *y = sl_tensorset_find(tb, x->name);
        ck_assert_msg(y != NULL, "%s lacks %s", b, x->name);
        ck_assert_msg(x->dtype == y->dtype && x->ndim == y->ndim && x->nbytes == y->nbytes &&
                          memcmp(x->shape, y->shape, sizeof x->shape) == 0 && memcmp(x->data, y->data, x->nbytes) == 0,
                      "%s differs between %s and %s", x->name, a, b);
    }
    sl_tensorset_free(ta);
    sl_tensorset_free(tb);
}

static bool have_exe(void)
{
    if (sortlens_exe())
        return true;
    printf("skipped: no sortlens executable beside the tests\n");
    return false;
}

/* A small model that trains in milliseconds; constant schedule, so that a
 * run's first steps do not depend on its length. */
#define TINY "--list-len", "3", "--max-num", "6", "--d-model", "16", "--batch", "32", "--seed", "3", "--schedule", \
             "constant"

/* ---- naming, listing, resolving ----------------------------------------------- */

START_TEST(test_dir_for_out)
{
    const char *cases[][2] = {
        {"runs/a.safetensors", "runs/a.run"}, {"a", "a.run"}, {"m.pt", "m.pt.run"},
        {".safetensors", ".safetensors.run"}, {"x.safetensors.safetensors", "x.safetensors.run"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *d = sl_run_dir_for_out(cases[i][0]);
        ck_assert_str_eq(d, cases[i][1]);
        free(d);
    }
    char *p = sl_run_snapshot_path("r.run", 42);
    ck_assert_str_eq(p, "r.run/step-0000042.safetensors");
    free(p);
    p = sl_run_snapshot_path("r.run", 123456789);
    ck_assert_str_eq(p, "r.run/step-123456789.safetensors");
    free(p);
}
END_TEST

START_TEST(test_open_find_resolve)
{
    char *dir = temp_dir();
    SlError err = {0};
    SlRun *run = sl_run_open(dir, &err);
    ck_assert_ptr_null(run);
    ck_assert_msg(strstr(err.message, "a directory with no snapshot"), "%s", err.message);
    /* snapshots, and names that are not */
    const char *names[] = {"step-0000100.safetensors", "step-0000050.safetensors", "step-0001000.safetensors",
                           "step-0000100.safetensors.tmp", "step-x.safetensors", "step-.safetensors",
                           "notes.txt", "optimizer.safetensors", "step-99999999999999.safetensors"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        touch(dir, names[i]);
    char slashed[PATH_MAX];
    snprintf(slashed, sizeof slashed, "%s//", dir);
    run = sl_run_open(slashed, &err);
    ck_assert_msg(run != NULL, "%s", err.message);
    ck_assert_str_eq(run->dir, dir);
    ck_assert_int_eq(run->count, 3);
    ck_assert(run->steps[0] == 50 && run->steps[1] == 100 && run->steps[2] == 1000);
    int i;
    ck_assert_int_eq(sl_run_find(run, -1, &i, &err), 0);
    ck_assert_int_eq(i, 2);
    ck_assert_int_eq(sl_run_find(run, 100, &i, &err), 0);
    ck_assert_int_eq(i, 1);
    ck_assert_int_eq(sl_run_find(run, 999, &i, &err), 0);
    ck_assert_int_eq(i, 1);
    ck_assert_int_eq(sl_run_find(run, 5000, &i, &err), 0);
    ck_assert_int_eq(i, 2);
    ck_assert_int_eq(sl_run_find(run, 49, &i, &err), SL_EINVAL);
    ck_assert_msg(strstr(err.message, "no snapshot at or before step 49 (the first is step 50)"), "%s", err.message);
    sl_run_free(run);
    long at;
    char *file = sl_run_resolve(dir, 120, &at, &err);
    ck_assert_ptr_nonnull(file);
    ck_assert_int_eq(at, 100);
    ck_assert(strstr(file, "/step-0000100.safetensors"));
    free(file);
    char *plain = path_in(dir, "notes.txt");
    file = sl_run_resolve(plain, 7, &at, &err);
    ck_assert_str_eq(file, plain);
    ck_assert_int_eq(at, -1);
    free(file);
    /* a file where the run directory should go */
    ck_assert_int_eq(sl_run_make_dir(plain, &err), SL_EIO);
    ck_assert_msg(strstr(err.message, "exists and is not a directory"), "%s", err.message);
    ck_assert_int_eq(sl_run_make_dir(dir, &err), 0);
    free(plain);
    rm_tree(dir);
    free(dir);
}
END_TEST

/* ---- the snapshot plan ------------------------------------------------------ */

START_TEST(test_plan_by_hand)
{
    SlSnapshotPlan p;
    SlError err = {0};
    /* 6 over 100 steps: 3 early below E = max(100/10, 3) = 10 at 0, 10/3, 20/3
     * rounded; 3 late at 10 + 90/3 j: 40, 70, 100. */
    ck_assert_int_eq(sl_snapshot_plan_init(&p, 100, 0, 6, &err), 0);
    long want[] = {0, 3, 7, 40, 70, 100};
    ck_assert_int_eq(p.count, 6);
    for (int i = 0; i < 6; i++)
        ck_assert_int_eq(p.steps[i], want[i]);
    ck_assert(sl_snapshot_plan_due(&p, 7) && !sl_snapshot_plan_due(&p, 8) && sl_snapshot_plan_due(&p, 100));
    sl_snapshot_plan_free(&p);
    /* 50 over 10,000 (the seed's recipe): every 40 steps up to 960, then
     * every 360 from 1,360 to 10,000. */
    ck_assert_int_eq(sl_snapshot_plan_init(&p, 10000, 0, 50, &err), 0);
    ck_assert_int_eq(p.count, 50);
    for (int i = 0; i < 25; i++)
        ck_assert_int_eq(p.steps[i], 40 * i);
    for (int j = 1; j <= 25; j++)
        ck_assert_int_eq(p.steps[24 + j], 1000 + 360 * j);
    sl_snapshot_plan_free(&p);
    /* by period */
    ck_assert_int_eq(sl_snapshot_plan_init(&p, 300, 100, 0, &err), 0);
    ck_assert(sl_snapshot_plan_due(&p, 0) && sl_snapshot_plan_due(&p, 200) && !sl_snapshot_plan_due(&p, 150));
    sl_snapshot_plan_free(&p);
}
END_TEST

START_TEST(test_plan_properties)
{
    SlError err = {0};
    for (long total = 0; total <= 400; total += total < 40 ? 1 : 37)
        for (int count = 2; count <= 70; count += 3) {
            SlSnapshotPlan p;
            ck_assert_int_eq(sl_snapshot_plan_init(&p, total, 0, count, &err), 0);
            long want = count < total + 1 ? count : total + 1;
            ck_assert_msg(p.count == want, "total %ld count %d: %d snapshots", total, count, p.count);
            ck_assert_int_eq(p.steps[0], 0);
            ck_assert_int_eq(p.steps[p.count - 1], total);
            int early = 0;
            for (int i = 0; i < p.count; i++) {
                ck_assert(i == 0 || p.steps[i] > p.steps[i - 1]);
                early += p.steps[i] * 10 < total;
            }
            /* extra density early: when the first tenth has room, half of them lie there */
            if (total / 10 >= count / 2 && count < total + 1)
                ck_assert_msg(early == count / 2, "total %ld count %d: %d early", total, count, early);
            sl_snapshot_plan_free(&p);
        }
}
END_TEST

/* ---- the training state ------------------------------------------------------- */

static SlModel *tiny_model(uint64_t seed)
{
    SlModelConfig c = {.n_layers = 2, .n_heads = 2, .d_model = 8, .d_head = 4, .d_vocab_out = 5, .list_len = 3};
    sl_model_config_derive(&c);
    SlError err = {0};
    SlModel *m = sl_model_new(&c, &err);
    ck_assert_msg(m != NULL, "%s", err.message);
    sl_train_init_params(m, seed);
    return m;
}

static SlTrainOptions tiny_options(void)
{
    SlTrainOptions o;
    sl_train_options_default(&o);
    o.batch = 8;
    o.seed = 5;
    o.train_biases = true;
    return o;
}

/* A trainer that restores another's state (through a file) on a copy of its
 * weights takes the very same next steps. */
START_TEST(test_state_round_trip)
{
    SlError err = {0};
    SlTrainOptions o = tiny_options();
    SlModel *a = tiny_model(1), *b = tiny_model(99);
    SlTrainer *ta = sl_trainer_new(a, &o, &err), *tb = sl_trainer_new(b, &o, &err);
    ck_assert(ta && tb);
    double loss;
    for (int s = 0; s < 7; s++)
        ck_assert_int_eq(sl_trainer_step(ta, &loss, &err), 0);
    char *dir = temp_dir();
    SlTensorSet *st = sl_train_state_tensors(ta, &err);
    ck_assert_msg(st != NULL, "%s", err.message);
    ck_assert_str_eq(sl_tensorset_get_meta(st, "step"), "7");
    ck_assert_ptr_nonnull(sl_tensorset_find(st, "blocks.1.attn.W_Q.exp_avg_sq"));
    const SlTensor *wq = sl_tensorset_find(st, "blocks.1.attn.W_Q.exp_avg");
    ck_assert(wq && wq->ndim == 3 && wq->shape[0] == 2 && wq->shape[1] == 8 && wq->shape[2] == 4);
    ck_assert_int_eq(sl_run_write_state(dir, st, &err), 0);
    sl_tensorset_free(st);
    SlTensorSet *back = sl_run_read_state(dir, &err);
    ck_assert_msg(back != NULL, "%s", err.message);
    memcpy(b->param_memory, a->param_memory, a->num_params * sizeof(float));
    ck_assert_msg(sl_train_state_restore(tb, back, "state", &err) == 0, "%s", err.message);
    sl_tensorset_free(back);
    ck_assert_int_eq(tb->step, 7);
    for (int s = 0; s < 5; s++) {
        ck_assert_int_eq(sl_trainer_step(ta, &loss, &err), 0);
        ck_assert_int_eq(sl_trainer_step(tb, &loss, &err), 0);
    }
    ck_assert(memcmp(a->param_memory, b->param_memory, a->num_params * sizeof(float)) == 0);
    ck_assert(memcmp(ta->m_memory, tb->m_memory, 2 * a->num_params * sizeof(float)) == 0);
    sl_trainer_free(ta);
    sl_trainer_free(tb);
    sl_model_free(a);
    sl_model_free(b);
    rm_tree(dir);
    free(dir);
}
END_TEST

/* Each way a state file can be wrong, and its message; the trainer is left
 * as it was. */
START_TEST(test_state_refused)
{
    SlError err = {0};
    SlTrainOptions o = tiny_options();
    SlModel *m = tiny_model(1);
    SlTrainer *t = sl_trainer_new(m, &o, &err);
    double loss;
    ck_assert_int_eq(sl_trainer_step(t, &loss, &err), 0);
    struct { const char *what, *key, *value, *tensor, *needle; } cases[] = {
        {"format", "format", "sortlens", NULL, "not a sortlens training state"},
        {"step", "step", "-3", NULL, "the step '-3' is not a non-negative integer"},
        {"step text", "step", "7x", NULL, "the step '7x' is not"},
        {"rng short", "data_rng", "0123,4567", NULL, "data_rng is not"},
        {"rng zero", "data_rng", "0000000000000000,0000000000000000,0000000000000000,0000000000000000", NULL,
         "data_rng is not"},
        {"lr", "lr", "0.5", NULL, "lr is 0.5 in the state but 0.001"},
        {"betas", "betas", "0.9,0.999", NULL, "betas is 0.9,0.999 in the state"},
        {"wd qk", "weight_decay_qk", "0.01", NULL, "weight_decay_qk is 0.01 in the state but none"},
        {"wd end", "weight_decay_end", "0.3", NULL, "weight_decay_end is 0.3 in the state but none"},
        {"missing", NULL, NULL, "embed.W_E.exp_avg", "embed.W_E.exp_avg is missing"},
        {"negative v", NULL, NULL, "unembed.W_U.exp_avg_sq", "unembed.W_U.exp_avg_sq[0] is -1, not a finite non-negative"},
        {"nan m", NULL, NULL, "pos_embed.W_pos.exp_avg", "pos_embed.W_pos.exp_avg[0] is nan, not a finite number"},
        {"dtype", NULL, NULL, "blocks.0.attn.b_Q.exp_avg", "blocks.0.attn.b_Q.exp_avg is F64 with 8 elements; the model needs F32 with 8"},
    };
    float *before = malloc(3 * m->num_params * sizeof(float));
    memcpy(before, t->memory, 3 * m->num_params * sizeof(float));
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        SlTensorSet *st = sl_train_state_tensors(t, &err);
        ck_assert(st != NULL);
        if (cases[i].key)
            ck_assert_int_eq(sl_tensorset_set_meta(st, cases[i].key, cases[i].value, &err), 0);
        if (cases[i].tensor) {
            SlTensor *x = NULL;
            for (int k = 0; k < st->count; k++)
                if (strcmp(st->items[k].name, cases[i].tensor) == 0)
                    x = &st->items[k];
            ck_assert_ptr_nonnull(x);
            if (strcmp(cases[i].what, "missing") == 0) {
                x->name[0] = 'X';   /* renamed away */
            } else if (strcmp(cases[i].what, "dtype") == 0) {
                double *d = calloc(8, sizeof *d);
                free(x->data);
                x->data = d;
                x->dtype = SL_DT_F64;
                x->nbytes = 8 * sizeof *d;
            } else {
                ((float *)x->data)[0] = strcmp(cases[i].what, "nan m") == 0 ? NAN : -1.0f;
            }
        }
        err.message[0] = '\0';
        long step_before = t->step;
        ck_assert_msg(sl_train_state_restore(t, st, "st", &err) != 0, "%s accepted", cases[i].what);
        ck_assert_msg(strstr(err.message, cases[i].needle), "%s: '%s' lacks '%s'", cases[i].what, err.message,
                      cases[i].needle);
        ck_assert_int_eq(t->step, step_before);
        ck_assert(memcmp(before, t->memory, 3 * m->num_params * sizeof(float)) == 0);
        sl_tensorset_free(st);
    }
    free(before);
    sl_trainer_free(t);
    sl_model_free(m);
}
END_TEST

/* ---- the command line ----------------------------------------------------------- */

/* sortlens train --out DIR/NAME ARGS...: exit status (0 expected when ok). */
static int train_cmd(const char *dir, const char *name, char *const extra[], char **errtext)
{
    char *out = path_in(dir, name);
    char *args[48] = {"train", "--out", out};
    int n = 3;
    for (int i = 0; extra[i]; i++)
        args[n++] = extra[i];
    args[n] = NULL;
    char *o;
    int rc = run_sortlens(args, &o, errtext);
    free(o);
    free(out);
    return rc;
}

/* The goal of issue 13: a 300-step run's step-200 snapshot holds the tensors
 * of a 200-step run; step 0 is the initialisation (a 0-step run). */
START_TEST(test_snapshot_is_the_shorter_run)
{
    if (!have_exe())
        return;
    char *dir = temp_dir(), *e;
    char *long_run[] = {TINY, "--steps", "300", "--snapshot-every", "100", NULL};
    char *short_run[] = {TINY, "--steps", "200", NULL};
    char *zero_run[] = {TINY, "--steps", "0", NULL};
    ck_assert_int_eq(train_cmd(dir, "long.safetensors", long_run, &e), 0);
    free(e);
    ck_assert_int_eq(train_cmd(dir, "short.safetensors", short_run, &e), 0);
    free(e);
    ck_assert_int_eq(train_cmd(dir, "zero.safetensors", zero_run, &e), 0);
    free(e);
    char *s200 = path_in(dir, "long.run/step-0000200.safetensors"), *s0 = path_in(dir, "long.run/step-0000000.safetensors");
    char *s300 = path_in(dir, "long.run/step-0000300.safetensors");
    char *shortf = path_in(dir, "short.safetensors"), *zerof = path_in(dir, "zero.safetensors");
    char *longf = path_in(dir, "long.safetensors");
    assert_same_tensors(s200, shortf);
    assert_same_tensors(s0, zerof);
    assert_same_tensors(s300, longf);
    /* the snapshot's metadata: where in the run it is */
    SlError err = {0};
    SlModel *m = sl_ckpt_load(s200, &err);
    ck_assert_msg(m != NULL, "%s", err.message);
    ck_assert_str_eq(sl_tensorset_get_meta(m->meta, "step"), "200");
    ck_assert_str_eq(sl_tensorset_get_meta(m->meta, "lr"), "0.001");
    ck_assert_str_eq(sl_tensorset_get_meta(m->meta, "train_loss_window"), "100");
    ck_assert_ptr_nonnull(sl_tensorset_get_meta(m->meta, "train_loss"));
    ck_assert_ptr_null(sl_tensorset_get_meta(m->meta, "heldout_list_accuracy"));   /* not evaluated there */
    sl_model_free(m);
    m = sl_ckpt_load(s300, &err);   /* the last: evaluated */
    ck_assert_ptr_nonnull(sl_tensorset_get_meta(m->meta, "heldout_list_accuracy"));
    sl_model_free(m);
    m = sl_ckpt_load(s0, &err);
    ck_assert_ptr_null(sl_tensorset_get_meta(m->meta, "train_loss"));
    sl_model_free(m);
    char *state = path_in(dir, "long.run/optimizer.safetensors");
    SlTensorSet *st = sl_safetensors_read(state, &err);
    ck_assert_msg(st != NULL, "%s", err.message);
    ck_assert_str_eq(sl_tensorset_get_meta(st, "step"), "300");
    sl_tensorset_free(st);
    free(state);
    free(s200);
    free(s0);
    free(s300);
    free(shortf);
    free(zerof);
    free(longf);
    rm_tree(dir);
    free(dir);
}
END_TEST

/* Stopped at 300 and resumed to 500: the bytes of a 500-step run, its model
 * file and its later snapshots. */
START_TEST(test_resume_is_the_unbroken_run)
{
    if (!have_exe())
        return;
    char *dir = temp_dir(), *e;
    char *whole[] = {TINY, "--steps", "500", "--snapshot-every", "100", "--eval-every", "200", NULL};
    char *first[] = {TINY, "--steps", "300", "--snapshot-every", "100", "--eval-every", "200", NULL};
    ck_assert_int_eq(train_cmd(dir, "whole.safetensors", whole, &e), 0);
    free(e);
    ck_assert_int_eq(train_cmd(dir, "part.safetensors", first, &e), 0);
    free(e);
    char *run = path_in(dir, "part.run");
    char *resume[] = {"train", "--resume", run, "--steps", "500", NULL};
    char *o;
    ck_assert_int_eq(run_sortlens(resume, &o, &e), 0);
    ck_assert_msg(strstr(o, "trained 200 steps"), "%s", o);
    free(o);
    free(e);
    char *a = path_in(dir, "whole.safetensors"), *b = path_in(dir, "part.safetensors");
    ck_assert_msg(files_equal(a, b), "the resumed run wrote other bytes than the unbroken one");
    free(a);
    free(b);
    const char *later[] = {"step-0000400.safetensors", "step-0000500.safetensors"};
    for (int i = 0; i < 2; i++) {
        char wa[PATH_MAX], wb[PATH_MAX];
        snprintf(wa, sizeof wa, "%s/whole.run/%s", dir, later[i]);
        snprintf(wb, sizeof wb, "%s/part.run/%s", dir, later[i]);
        ck_assert_msg(files_equal(wa, wb), "%s differs", later[i]);
    }
    /* Only --steps goes with --resume; a run cannot go back. */
    char *bad[] = {"train", "--resume", run, "--lr", "0.1", NULL};
    ck_assert_int_eq(run_sortlens(bad, NULL, &e), 2);
    ck_assert_msg(strstr(e, "with --resume only --steps may be given"), "%s", e);
    free(e);
    char *back[] = {"train", "--resume", run, "--steps", "400", NULL};
    ck_assert_int_eq(run_sortlens(back, NULL, &e), 2);
    ck_assert_msg(strstr(e, "the run is at step 500 already; --steps 400 would go back"), "%s", e);
    free(e);
    /* A fresh run over a run directory that holds snapshots is refused. */
    ck_assert_int_eq(train_cmd(dir, "part.safetensors", first, &e), 2);
    ck_assert_msg(strstr(e, "already holds a run (snapshots up to step 500); continue it with --resume"), "%s", e);
    free(e);
    char *notrun[] = {"train", "--resume", dir, NULL};
    ck_assert_int_eq(run_sortlens(notrun, NULL, &e), 1);
    ck_assert_msg(strstr(e, "optimizer.safetensors: cannot open"), "%s", e);
    free(e);
    /* A state whose recorded command or model name was tampered with. */
    struct { const char *key, *value, *needle; int status; } bad_state[] = {
        {"out_name", "../elsewhere.safetensors", "the recorded command (train_argv) or model name (out_name)", 1},
        {"train_argv", "[\"train\", 7]", "the recorded command (train_argv) holds a non-string", 1},
        {"train_argv", "{\"train\": 1}", "the recorded command (train_argv) or model name", 1},
        {"train_argv", "[\"train\", \"--resume\", \"x\"]", "--resume given twice, or recorded", 2},
    };
    char *state_path = path_in(run, "optimizer.safetensors");
    SlError err = {0};
    SlTensorSet *good = sl_safetensors_read(state_path, &err);
    ck_assert_msg(good != NULL, "%s", err.message);
    for (size_t i = 0; i < sizeof bad_state / sizeof bad_state[0]; i++) {
        ck_assert_int_eq(sl_safetensors_write(state_path, good, &err), 0);   /* one flaw at a time */
        SlTensorSet *st = sl_safetensors_read(state_path, &err);
        ck_assert_int_eq(sl_tensorset_set_meta(st, bad_state[i].key, bad_state[i].value, &err), 0);
        ck_assert_int_eq(sl_safetensors_write(state_path, st, &err), 0);
        sl_tensorset_free(st);
        char *again[] = {"train", "--resume", run, NULL};
        ck_assert_int_eq(run_sortlens(again, NULL, &e), bad_state[i].status);
        ck_assert_msg(strstr(e, bad_state[i].needle), "%s: '%s' lacks '%s'", bad_state[i].key, e, bad_state[i].needle);
        free(e);
    }
    ck_assert_int_eq(sl_safetensors_write(state_path, good, &err), 0);
    sl_tensorset_free(good);
    free(state_path);
    free(run);
    rm_tree(dir);
    free(dir);
}
END_TEST

/* Ctrl-C at some step s, then --resume to s + 150: the bytes of an unbroken
 * run of s + 150 steps. */
START_TEST(test_sigint_then_resume)
{
    if (!have_exe())
        return;
    char *dir = temp_dir(), *e;
    char *out = path_in(dir, "int.safetensors"), *outf = path_in(dir, "o.txt"), *errf = path_in(dir, "e.txt");
    char *args[] = {"train", "--out", out, TINY, "--steps", "100000000", "--snapshot-every", "1000", NULL};
    pid_t pid = spawn_sortlens(args, outf, errf);
    /* once step 0 is on disk the run is under way; stop it a little later */
    char *first = path_in(dir, "int.run/step-0000000.safetensors");
    struct timespec poll = {0, 10 * 1000 * 1000}, ts = {0, 300 * 1000 * 1000};
    for (int i = 0; i < 3000 && access(first, F_OK) != 0; i++)
        nanosleep(&poll, NULL);
    free(first);
    nanosleep(&ts, NULL);
    kill(pid, SIGINT);
    ck_assert_int_eq(wait_exit_status(pid), 0);
    SlError err = {0};
    SlModel *m = sl_ckpt_load(out, &err);
    ck_assert_msg(m != NULL, "%s", err.message);
    long s = atol(sl_tensorset_get_meta(m->meta, "steps_done"));   /* 0 would do too */
    sl_model_free(m);
    char *run = path_in(dir, "int.run"), steps[32];
    snprintf(steps, sizeof steps, "%ld", s + 150);
    char *resume[] = {"train", "--resume", run, "--steps", steps, NULL};
    ck_assert_int_eq(run_sortlens(resume, NULL, &e), 0);
    free(e);
    char *whole[] = {TINY, "--steps", steps, "--snapshot-every", "1000", NULL};
    ck_assert_int_eq(train_cmd(dir, "whole.safetensors", whole, &e), 0);
    free(e);
    char *w = path_in(dir, "whole.safetensors");
    ck_assert_msg(files_equal(w, out), "interrupted at %ld and resumed: other bytes than an unbroken run", s);
    free(w);
    free(run);
    free(out);
    free(outf);
    free(errf);
    rm_tree(dir);
    free(dir);
}
END_TEST

/* --init starts from another model's weights (a run: its last snapshot). */
START_TEST(test_init)
{
    if (!have_exe())
        return;
    char *dir = temp_dir(), *e;
    char *base[] = {TINY, "--steps", "50", "--snapshot-every", "20", NULL};
    ck_assert_int_eq(train_cmd(dir, "base.safetensors", base, &e), 0);
    free(e);
    char *run = path_in(dir, "base.run");
    char *again[] = {"--init", run, "--steps", "0", NULL};
    ck_assert_int_eq(train_cmd(dir, "again.safetensors", again, &e), 0);
    free(e);
    char *a = path_in(dir, "again.safetensors"), *b = path_in(dir, "base.safetensors");
    assert_same_tensors(a, b);
    SlError err = {0};
    SlModel *m = sl_ckpt_load(a, &err);
    ck_assert_msg(strstr(sl_tensorset_get_meta(m->meta, "training_command"), "--init"), "no --init in the command");
    ck_assert_ptr_null(sl_tensorset_get_meta(m->meta, "step"));   /* nothing of the snapshot's metadata */
    sl_model_free(m);
    char *clash[] = {"--init", run, "--d-model", "32", NULL};
    ck_assert_int_eq(train_cmd(dir, "clash.safetensors", clash, &e), 2);
    ck_assert_msg(strstr(e, "d_model 16") && strstr(e, "d_model 32") && strstr(e, "leave the architecture options out"),
                  "%s", e);
    free(e);
    free(a);
    free(b);
    free(run);
    rm_tree(dir);
    free(dir);
}
END_TEST

/* A run directory wherever a model goes; explain over a run; compare. */
START_TEST(test_commands_take_runs)
{
    if (!have_exe())
        return;
    char *dir = temp_dir(), *e, *o;
    char *train[] = {TINY, "--steps", "300", "--snapshot-every", "100", NULL};
    ck_assert_int_eq(train_cmd(dir, "r.safetensors", train, &e), 0);
    free(e);
    char *run = path_in(dir, "r.run"), *file = path_in(dir, "r.safetensors");
    char *info[] = {"info", "--model", run, NULL};
    ck_assert_int_eq(run_sortlens(info, &o, &e), 0);
    ck_assert_msg(strstr(o, "r.run/step-0000300.safetensors"), "%s", o);
    free(o);
    free(e);
    char *info_at[] = {"info", "--model", run, "--step", "250", NULL};
    ck_assert_int_eq(run_sortlens(info_at, &o, &e), 0);
    ck_assert_msg(strstr(o, "r.run/step-0000200.safetensors"), "%s", o);
    ck_assert_msg(strstr(e, "no snapshot at step 250; using step 200, the nearest before it"), "%s", e);
    free(o);
    free(e);
    char *info_exact[] = {"info", "--model", run, "--step", "100", NULL};
    ck_assert_int_eq(run_sortlens(info_exact, &o, &e), 0);
    ck_assert_str_eq(e, "");
    free(o);
    free(e);
    char *step_file[] = {"circuit", "ov", "--model", file, "--step", "100", NULL};
    ck_assert_int_eq(run_sortlens(step_file, &o, &e), 1);
    ck_assert_msg(strstr(e, "--step 100 needs a run directory"), "%s", e);
    free(o);
    free(e);
    char *empty = path_in(dir, "empty.run");
    ck_assert_int_eq(mkdir(empty, 0777), 0);
    char *eval_empty[] = {"eval", "--model", empty, "--lists", "10", NULL};
    ck_assert_int_eq(run_sortlens(eval_empty, &o, &e), 1);
    ck_assert_msg(strstr(e, "a directory with no snapshot"), "%s", e);
    free(o);
    free(e);
    /* the last snapshot is the model file's weights: the same circuit */
    char *c_run[] = {"circuit", "ov", "--model", run, NULL}, *c_file[] = {"circuit", "ov", "--model", file, NULL};
    char *o2;
    ck_assert_int_eq(run_sortlens(c_run, &o, NULL), 0);
    ck_assert_int_eq(run_sortlens(c_file, &o2, NULL), 0);
    ck_assert_str_eq(o, o2);
    free(o);
    free(o2);
    /* explain over the run: one object per snapshot, in step order */
    char *ex[] = {"explain", "--model", run, "--lists", "30", "--json", NULL};
    ck_assert_int_eq(run_sortlens(ex, &o, &e), 0);
    free(e);
    json_error_t jerr;
    json_t *arr = json_loads(o, 0, &jerr);
    ck_assert_msg(json_is_array(arr), "%s", o);
    free(o);
    ck_assert_int_eq(json_array_size(arr), 4);
    for (size_t i = 0; i < 4; i++) {
        json_t *x = json_array_get(arr, i);
        ck_assert_int_eq(json_integer_value(json_object_get(x, "step")), 100 * (long)i);
        ck_assert(json_is_real(json_object_get(x, "ov_copy_fraction")));
        ck_assert(json_is_array(json_object_get(x, "ablations")));
        ck_assert(i == 0 ? json_object_get(x, "train_loss") == NULL : json_is_real(json_object_get(x, "train_loss")));
    }
    /* the last object is explain of the last snapshot alone */
    char *ex_last[] = {"explain", "--model", run, "--step", "300", "--lists", "30", "--json", NULL};
    ck_assert_int_eq(run_sortlens(ex_last, &o, NULL), 0);
    json_t *one = json_loads(o, 0, &jerr);
    free(o);
    ck_assert(json_is_object(one));
    const char *keys[] = {"ov_copy_fraction", "qk_next_token_fraction", "top_source_correct", "attention_after_mid"};
    for (int k = 0; k < 4; k++)
        ck_assert(json_real_value(json_object_get(one, keys[k])) ==
                  json_real_value(json_object_get(json_array_get(arr, 3), keys[k])));
    json_decref(one);
    json_decref(arr);
    char *ex_text[] = {"explain", "--model", run, "--lists", "30", NULL};
    ck_assert_int_eq(run_sortlens(ex_text, &o, NULL), 0);
    ck_assert_msg(strstr(o, "4 snapshots") && strstr(o, "      300 "), "%s", o);
    free(o);
    /* compare: a run (its last snapshot) and a file, against eval's figures */
    char *cmp[] = {"compare", run, file, "--lists", "30", "--eval-lists", "200", "--json", NULL};
    ck_assert_int_eq(run_sortlens(cmp, &o, &e), 0);
    free(e);
    arr = json_loads(o, 0, &jerr);
    free(o);
    ck_assert(json_is_array(arr) && json_array_size(arr) == 2);
    ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(arr, 0), "step")), 300);
    ck_assert(json_is_null(json_object_get(json_array_get(arr, 1), "step")));
    char *ev[] = {"eval", "--model", file, "--lists", "200", "--json", NULL};
    ck_assert_int_eq(run_sortlens(ev, &o, NULL), 0);
    json_t *evj = json_loads(o, 0, &jerr);
    free(o);
    for (int i = 0; i < 2; i++)
        ck_assert(json_real_value(json_object_get(json_object_get(json_array_get(arr, i), "eval"), "list_accuracy")) ==
                  json_real_value(json_object_get(evj, "list_accuracy")));
    json_decref(evj);
    json_decref(arr);
    char *cmp_none[] = {"compare", NULL};
    ck_assert_int_eq(run_sortlens(cmp_none, NULL, &e), 2);
    ck_assert_msg(strstr(e, "compare: which models?"), "%s", e);
    free(e);
    free(empty);
    free(run);
    free(file);
    rm_tree(dir);
    free(dir);
}
END_TEST

/* PyTorch reads a snapshot with load_state_dict(strict=True), and the
 * training state as ordinary tensors named and shaped after the weights. */
START_TEST(test_snapshot_in_torch)
{
    const char *src = getenv("SORTLENS_SOURCE");
    char script[PATH_MAX], cmd[4 * PATH_MAX];
    snprintf(script, sizeof script, "%s/tests/core/run_torch_check.py", src ? src : ".");
    if (!have_exe())
        return;
    if (access("/usr/bin/python3", X_OK) != 0) {
        printf("skipped: no /usr/bin/python3\n");
        return;
    }
    char *dir = temp_dir(), *e;
    char *train[] = {TINY, "--steps", "40", "--snapshot-every", "20", NULL};
    ck_assert_int_eq(train_cmd(dir, "t.safetensors", train, &e), 0);
    free(e);
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s' '%s/t.run'", script, dir);
    int st = system(cmd);
    ck_assert(WIFEXITED(st));
    if (WEXITSTATUS(st) == 77)
        printf("skipped: /usr/bin/python3 has no torch\n");
    else
        ck_assert_msg(WEXITSTATUS(st) == 0, "%s exited %d", cmd, WEXITSTATUS(st));
    rm_tree(dir);
    free(dir);
}
END_TEST

static Suite *run_suite_make(void)
{
    Suite *s = suite_create("run");
    TCase *core = tcase_create("core");
    tcase_add_test(core, test_dir_for_out);
    tcase_add_test(core, test_open_find_resolve);
    tcase_add_test(core, test_plan_by_hand);
    tcase_add_test(core, test_plan_properties);
    tcase_add_test(core, test_state_round_trip);
    tcase_add_test(core, test_state_refused);
    suite_add_tcase(s, core);
    TCase *cli = tcase_create("cli");
    tcase_set_timeout(cli, 240);
    tcase_add_test(cli, test_snapshot_is_the_shorter_run);
    tcase_add_test(cli, test_resume_is_the_unbroken_run);
    tcase_add_test(cli, test_sigint_then_resume);
    tcase_add_test(cli, test_init);
    tcase_add_test(cli, test_commands_take_runs);
    tcase_add_test(cli, test_snapshot_in_torch);
    suite_add_tcase(s, cli);
    return s;
}

int main(void) { return run_suite(run_suite_make()); }
