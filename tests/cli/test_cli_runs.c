/* test_cli_runs.c: training runs through the command line: snapshots equal
 * the shorter runs, --resume (also after Ctrl-C) writes the bytes of the
 * unbroken run, --init, run directories wherever a model goes (info,
 * circuit, eval, explain over a run, compare), and PyTorch reading a
 * snapshot and the training state. */
#include <check.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli_run.h"
#include "sortlens/checkpoint.h"
#include "sortlens/safetensors.h"
#include "test_util.h"

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
    if (cli_exe())
        return true;
    printf("skipped: no sortlens executable beside the tests\n");
    return false;
}

/* A small model that trains in milliseconds; constant schedule, so that a
 * run's first steps do not depend on its length. */
#define TINY "--list-len", "3", "--max-num", "6", "--d-model", "16", "--batch", "32", "--seed", "3", "--schedule", \
             "constant"

/* sortlens train --out DIR/NAME ARGS...: exit status (0 expected when ok). */
static int train_cmd(const char *dir, const char *name, char *const extra[], char **errtext)
{
    char *out = test_path_in(dir, name);
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
    char *dir = test_tmpdir_new("run"), *e;
    char *long_run[] = {TINY, "--steps", "300", "--snapshot-every", "100", NULL};
    char *short_run[] = {TINY, "--steps", "200", NULL};
    char *zero_run[] = {TINY, "--steps", "0", NULL};
    ck_assert_int_eq(train_cmd(dir, "long.safetensors", long_run, &e), 0);
    free(e);
    ck_assert_int_eq(train_cmd(dir, "short.safetensors", short_run, &e), 0);
    free(e);
    ck_assert_int_eq(train_cmd(dir, "zero.safetensors", zero_run, &e), 0);
    free(e);
    char *s200 = test_path_in(dir, "long.run/step-0000200.safetensors"), *s0 = test_path_in(dir, "long.run/step-0000000.safetensors");
    char *s300 = test_path_in(dir, "long.run/step-0000300.safetensors");
    char *shortf = test_path_in(dir, "short.safetensors"), *zerof = test_path_in(dir, "zero.safetensors");
    char *longf = test_path_in(dir, "long.safetensors");
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
    char *state = test_path_in(dir, "long.run/optimizer.safetensors");
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
    test_tmpdir_remove(dir);
    free(dir);
}
END_TEST

/* Stopped at 300 and resumed to 500: the bytes of a 500-step run, its model
 * file and its later snapshots. */
START_TEST(test_resume_is_the_unbroken_run)
{
    if (!have_exe())
        return;
    char *dir = test_tmpdir_new("run"), *e;
    char *whole[] = {TINY, "--steps", "500", "--snapshot-every", "100", "--eval-every", "200", NULL};
    char *first[] = {TINY, "--steps", "300", "--snapshot-every", "100", "--eval-every", "200", NULL};
    ck_assert_int_eq(train_cmd(dir, "whole.safetensors", whole, &e), 0);
    free(e);
    ck_assert_int_eq(train_cmd(dir, "part.safetensors", first, &e), 0);
    free(e);
    char *run = test_path_in(dir, "part.run");
    char *resume[] = {"train", "--resume", run, "--steps", "500", NULL};
    char *o;
    ck_assert_int_eq(run_sortlens(resume, &o, &e), 0);
    ck_assert_msg(strstr(o, "trained 200 steps"), "%s", o);
    free(o);
    free(e);
    char *a = test_path_in(dir, "whole.safetensors"), *b = test_path_in(dir, "part.safetensors");
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
    char *state_path = test_path_in(run, "optimizer.safetensors");
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
    test_tmpdir_remove(dir);
    free(dir);
}
END_TEST

/* Ctrl-C at some step s, then --resume to s + 150: the bytes of an unbroken
 * run of s + 150 steps. */
START_TEST(test_sigint_then_resume)
{
    if (!have_exe())
        return;
    char *dir = test_tmpdir_new("run"), *e;
    char *out = test_path_in(dir, "int.safetensors"), *outf = test_path_in(dir, "o.txt"), *errf = test_path_in(dir, "e.txt");
    char *args[] = {"train", "--out", out, TINY, "--steps", "100000000", "--snapshot-every", "1000", NULL};
    pid_t pid = spawn_sortlens(args, outf, errf);
    /* once step 0 is on disk the run is under way; stop it a little later */
    char *first = test_path_in(dir, "int.run/step-0000000.safetensors");
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
    char *run = test_path_in(dir, "int.run"), steps[32];
    snprintf(steps, sizeof steps, "%ld", s + 150);
    char *resume[] = {"train", "--resume", run, "--steps", steps, NULL};
    ck_assert_int_eq(run_sortlens(resume, NULL, &e), 0);
    free(e);
    char *whole[] = {TINY, "--steps", steps, "--snapshot-every", "1000", NULL};
    ck_assert_int_eq(train_cmd(dir, "whole.safetensors", whole, &e), 0);
    free(e);
    char *w = test_path_in(dir, "whole.safetensors");
    ck_assert_msg(files_equal(w, out), "interrupted at %ld and resumed: other bytes than an unbroken run", s);
    free(w);
    free(run);
    free(out);
    free(outf);
    free(errf);
    test_tmpdir_remove(dir);
    free(dir);
}
END_TEST

/* --init starts from another model's weights (a run: its last snapshot). */
START_TEST(test_init)
{
    if (!have_exe())
        return;
    char *dir = test_tmpdir_new("run"), *e;
    char *base[] = {TINY, "--steps", "50", "--snapshot-every", "20", NULL};
    ck_assert_int_eq(train_cmd(dir, "base.safetensors", base, &e), 0);
    free(e);
    char *run = test_path_in(dir, "base.run");
    char *again[] = {"--init", run, "--steps", "0", NULL};
    ck_assert_int_eq(train_cmd(dir, "again.safetensors", again, &e), 0);
    free(e);
    char *a = test_path_in(dir, "again.safetensors"), *b = test_path_in(dir, "base.safetensors");
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
    test_tmpdir_remove(dir);
    free(dir);
}
END_TEST

/* A run directory wherever a model goes; explain over a run; compare. */
START_TEST(test_commands_take_runs)
{
    if (!have_exe())
        return;
    char *dir = test_tmpdir_new("run"), *e, *o;
    char *train[] = {TINY, "--steps", "300", "--snapshot-every", "100", NULL};
    ck_assert_int_eq(train_cmd(dir, "r.safetensors", train, &e), 0);
    free(e);
    char *run = test_path_in(dir, "r.run"), *file = test_path_in(dir, "r.safetensors");
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
    char *empty = test_path_in(dir, "empty.run");
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
    test_tmpdir_remove(dir);
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
    char *dir = test_tmpdir_new("run"), *e;
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
    test_tmpdir_remove(dir);
    free(dir);
}
END_TEST

static Suite *make(void)
{
    Suite *s = suite_create("cli-runs");
    TCase *tc = tcase_create("runs");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, test_snapshot_is_the_shorter_run);
    tcase_add_test(tc, test_resume_is_the_unbroken_run);
    tcase_add_test(tc, test_sigint_then_resume);
    tcase_add_test(tc, test_init);
    tcase_add_test(tc, test_commands_take_runs);
    tcase_add_test(tc, test_snapshot_in_torch);
    suite_add_tcase(s, tc);
    return s;
}

int main(int argc, char **argv) { return cli_main(argc, argv, make); }
