/* test_run.c: training runs on disk: run directories, the snapshot plan, the
 * training state (the command line over runs: tests/cli/test_cli_runs.c). */
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

static void touch(const char *dir, const char *name)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    ck_assert(f != NULL);
    fclose(f);
}

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
    char *dir = test_tmpdir_new("run");
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
    char *plain = test_path_in(dir, "notes.txt");
    file = sl_run_resolve(plain, 7, &at, &err);
    ck_assert_str_eq(file, plain);
    ck_assert_int_eq(at, -1);
    free(file);
    /* a file where the run directory should go */
    ck_assert_int_eq(sl_run_make_dir(plain, &err), SL_EIO);
    ck_assert_msg(strstr(err.message, "exists and is not a directory"), "%s", err.message);
    ck_assert_int_eq(sl_run_make_dir(dir, &err), 0);
    free(plain);
    test_tmpdir_remove(dir);
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
    char *dir = test_tmpdir_new("run");
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
    test_tmpdir_remove(dir);
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
        {"hard share", "hard_share", "0.5", NULL, "hard_share is 0.5 in the state but 0 in this run"},
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
    return s;
}

int main(void) { return run_suite(run_suite_make()); }
