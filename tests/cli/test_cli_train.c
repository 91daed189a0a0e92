/* test_cli_train.c: `sortlens train` as a user runs it: what it checks
 * before training, what it saves when stopped, what it writes after no
 * step (issue 19 items 1-3, 7, 8; issue 17 item 6). */
#include <check.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli_run.h"
#include "sortlens/checkpoint.h"
#include "test_util.h"

/* A model that trains in milliseconds. */
#define TINY "--list-len", "3", "--max-num", "6", "--d-model", "16", "--batch", "8", "--eval-lists", "10"

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static SlModel *load_ok(const char *path)
{
    SlError err = {0};
    SlModel *m = sl_ckpt_load(path, &err);
    ck_assert_msg(m != NULL, "%s", err.message);
    return m;
}

/* A run of train that would never end (--steps 10^8) must be refused at
 * once: runs args, and gives its exit status, its standard error in err
 * (malloc'd) and whether it ended within 30 s; one that is still training
 * then is killed. */
static bool refused_before_training(const char *const args[], const char *dir, int *status, char **err)
{
    char out_path[4096], err_path[4096];   /* not cli_path's buffers, which the caller's paths may be in */
    snprintf(out_path, sizeof out_path, "%s/o", dir);
    snprintf(err_path, sizeof err_path, "%s/e", dir);
    pid_t pid = cli_spawn(args, out_path, err_path);
    bool ended = false;
    for (int waited = 0; waited < 30000 && !ended; waited += 20) {
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            ended = true;
            *status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        } else {
            sleep_ms(20);
        }
    }
    if (!ended) {
        kill(pid, SIGKILL);
        cli_wait(pid);
        *status = -1;
    }
    *err = cli_slurp(err_path, NULL);
    unlink(out_path);
    unlink(err_path);
    return ended;
}

/* Names in dir other than those listed (NULL-terminated): what a run left. */
static int count_other_files(const char *dir, const char *const keep[])
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "ls -A '%s'", dir);
    FILE *p = popen(cmd, "r");
    char line[512];
    int n = 0;
    while (fgets(line, sizeof line, p)) {
        line[strcspn(line, "\n")] = '\0';
        bool kept = false;
        for (int i = 0; keep[i]; i++)
            kept |= strcmp(line, keep[i]) == 0;
        if (!kept) {
            printf("  left behind: %s\n", line);
            n++;
        }
    }
    pclose(p);
    return n;
}

/* 19.1: a FIFO at --out is written through and stays a FIFO. */
START_TEST(test_out_fifo_written_through)
{
    const char *dir = cli_tempdir(), *fifo = cli_path(dir, "pipe");
    ck_assert_int_eq(mkfifo(fifo, 0600), 0);
    const char *args[] = {"train", "--out", fifo, "--steps", "2", TINY, NULL};
    pid_t pid = cli_spawn(args, cli_path(dir, "o"), cli_path(dir, "e"));
    int fd = open(fifo, O_RDONLY);   /* waits for the writer */
    ck_assert(fd >= 0);
    char buf[65536];
    size_t total = 0;
    for (ssize_t got; (got = read(fd, buf, sizeof buf)) > 0;)
        total += (size_t)got;
    close(fd);
    ck_assert_int_eq(cli_wait(pid), 0);
    struct stat st;
    ck_assert_int_eq(lstat(fifo, &st), 0);
    ck_assert_msg(S_ISFIFO(st.st_mode), "the FIFO at --out was replaced by a file");
    ck_assert_msg(total > 1000, "only %zu bytes came through the FIFO", total);
    cli_rmtree(dir);
}
END_TEST

/* 19.1: device nodes (made here, as root) are written through, never
 * replaced; one that refuses the bytes (a full device) fails with a message. */
START_TEST(test_out_device_written_through)
{
    if (!cli_is_root()) {
        printf("skipped: device nodes need root (mknod)\n");
        return;
    }
    const char *dir = cli_tempdir(), *null = cli_path(dir, "null"), *full = cli_path(dir, "full");
    ck_assert_int_eq(mknod(null, S_IFCHR | 0666, makedev(1, 3)), 0);
    ck_assert_int_eq(mknod(full, S_IFCHR | 0666, makedev(1, 7)), 0);
    CliRun r;
    const char *to_null[] = {"train", "--out", null, "--steps", "2", TINY, NULL};
    cli_run(&r, NULL, to_null);
    ck_assert_msg(r.status == 0, "exit %d: %s", r.status, r.err);
    cli_run_free(&r);
    const char *to_full[] = {"train", "--out", full, "--steps", "2", TINY, NULL};
    cli_run(&r, NULL, to_full);
    ck_assert_msg(r.status == 1 && strstr(r.err, "No space left on device"), "exit %d: %s", r.status, r.err);
    cli_run_free(&r);
    struct stat st;
    ck_assert_int_eq(lstat(null, &st), 0);
    ck_assert_msg(S_ISCHR(st.st_mode) && st.st_rdev == makedev(1, 3), "the null device at --out was replaced");
    ck_assert_int_eq(lstat(full, &st), 0);
    ck_assert_msg(S_ISCHR(st.st_mode) && st.st_rdev == makedev(1, 7), "the full device at --out was replaced");
    const char *keep[] = {"null", "full", NULL};
    ck_assert_int_eq(count_other_files(dir, keep), 0);
    cli_rmtree(dir);
}
END_TEST

/* 19.1: a symbolic link at --out is followed: the link stays and the file
 * it names holds the model. */
START_TEST(test_out_symlink_followed)
{
    const char *dir = cli_tempdir(), *link = cli_path(dir, "link.st"), *real = cli_path(dir, "real.st");
    FILE *f = fopen(real, "w");
    fputs("old", f);
    fclose(f);
    ck_assert_int_eq(symlink("real.st", link), 0);
    CliRun r;
    const char *args[] = {"train", "--out", link, "--steps", "2", TINY, NULL};
    cli_run(&r, NULL, args);
    ck_assert_msg(r.status == 0, "exit %d: %s", r.status, r.err);
    cli_run_free(&r);
    struct stat st;
    ck_assert_int_eq(lstat(link, &st), 0);
    ck_assert_msg(S_ISLNK(st.st_mode), "the link at --out was replaced");
    sl_model_free(load_ok(real));
    const char *keep[] = {"link.st", "real.st", NULL};
    ck_assert_int_eq(count_other_files(dir, keep), 0);
    cli_rmtree(dir);
}
END_TEST

/* 19.2: a file named like a fixed temporary (PATH.tmp) is not ours to
 * destroy, and nothing is left beside PATH. */
START_TEST(test_out_tmp_name_untouched)
{
    const char *dir = cli_tempdir(), *out = cli_path(dir, "m.st"), *notes = cli_path(dir, "m.st.tmp");
    FILE *f = fopen(notes, "w");
    fputs("notes\n", f);
    fclose(f);
    CliRun r;
    const char *args[] = {"train", "--out", out, "--steps", "2", TINY, NULL};
    cli_run(&r, NULL, args);
    ck_assert_msg(r.status == 0, "exit %d: %s", r.status, r.err);
    cli_run_free(&r);
    char *text = cli_slurp(notes, NULL);
    ck_assert_msg(strcmp(text, "notes\n") == 0, "m.st.tmp now holds %zu other bytes", strlen(text));
    free(text);
    sl_model_free(load_ok(out));
    const char *keep[] = {"m.st", "m.st.tmp", NULL};
    ck_assert_int_eq(count_other_files(dir, keep), 0);
    cli_rmtree(dir);
}
END_TEST

/* 19.2: a write that fails (the file size limit) leaves nothing behind and
 * the old model in place. */
START_TEST(test_out_failed_write_leaves_nothing)
{
    const char *dir = cli_tempdir(), *out = cli_path(dir, "m.st");
    FILE *f = fopen(out, "w");
    fputs("old model", f);
    fclose(f);
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "ulimit -f 2; exec '%s' train --out '%s' --steps 2 --list-len 3 --max-num 6 "
             "--d-model 64 --eval-lists 10 2>'%s/e' >/dev/null", cli_exe(), out, dir);
    signal(SIGXFSZ, SIG_IGN);   /* inherited: the write fails with EFBIG instead of killing */
    int st = system(cmd);
    signal(SIGXFSZ, SIG_DFL);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 1, "status %d", st);
    char *err = cli_slurp(cli_path(dir, "e"), NULL);
    ck_assert_msg(strstr(err, out) && strstr(err, "too large"), "%s", err);
    free(err);
    char *text = cli_slurp(out, NULL);
    ck_assert_str_eq(text, "old model");
    free(text);
    const char *keep[] = {"m.st", "e", NULL};
    ck_assert_int_eq(count_other_files(dir, keep), 0);
    cli_rmtree(dir);
}
END_TEST

/* 19.3: an --out that cannot be written is found before training, with
 * the path the user gave and why: a run that would never end is refused at
 * once, not after its steps. */
START_TEST(test_out_checked_at_start)
{
    const char *dir = cli_tempdir();
    const char *missing = cli_path(dir, "nodir/m.st"), *adir = cli_path(dir, "adir");
    ck_assert_int_eq(mkdir(adir, 0755), 0);
    struct {
        const char *out, *why;
    } cases[] = {{missing, "No such file or directory"}, {adir, "is a directory"}};
    for (int i = 0; i < 2; i++) {
        const char *args[] = {"train", "--out", cases[i].out, "--steps", "100000000", TINY, NULL};
        int status;
        char *err;
        bool ended = refused_before_training(args, dir, &status, &err);
        ck_assert_msg(ended, "%s: still training after 30 s: not checked at start", cases[i].out);
        ck_assert_msg(status == 1, "%s: exit %d", cases[i].out, status);
        ck_assert_msg(strstr(err, cases[i].out) && strstr(err, cases[i].why) && !strstr(err, ".tmp"), "%s: %s",
                      cases[i].out, err);
        free(err);
    }
    cli_rmtree(dir);
}
END_TEST

/* 19.7: SIGTERM and SIGHUP during training save what was trained, as
 * Ctrl-C does. */
START_TEST(test_sigterm_sighup_save)
{
    const int sigs[] = {SIGTERM, SIGHUP};
    for (int i = 0; i < 2; i++) {
        const char *dir = cli_tempdir(), *out = cli_path(dir, "m.st");
        const char *args[] = {"train", "--out", out, "--steps", "100000000", TINY, NULL};
        pid_t pid = cli_spawn(args, cli_path(dir, "o"), cli_path(dir, "e"));
        sleep_ms(400);
        kill(pid, sigs[i]);
        int status = cli_wait(pid);
        char *err = cli_slurp(cli_path(dir, "e"), NULL);
        ck_assert_msg(status == 0, "signal %d: exit %d: %s", sigs[i], status, err);
        ck_assert_msg(strstr(err, "saved the model so far"), "%s", err);
        free(err);
        SlModel *m = load_ok(out);
        ck_assert_str_eq(sl_tensorset_get_meta(m->meta, "interrupted"), "true");
        ck_assert_str_eq(sl_tensorset_get_meta(m->meta, "stopped_by"), sigs[i] == SIGTERM ? "SIGTERM" : "SIGHUP");
        sl_model_free(m);
        cli_rmtree(dir);
    }
}
END_TEST

/* 19.7: Ctrl-C while the final evaluation runs still saves (the help says
 * Ctrl-C saves).  A million held-out lists keep the final evaluation busy
 * for seconds after the one step. */
START_TEST(test_sigint_during_final_eval_saves)
{
    const char *dir = cli_tempdir(), *out = cli_path(dir, "m.st");
    const char *args[] = {"train", "--out", out, "--steps", "1", "--list-len", "3", "--max-num", "6", "--d-model",
                          "16", "--batch", "8", "--eval-lists", "1000000", NULL};
    pid_t pid = cli_spawn(args, cli_path(dir, "o"), cli_path(dir, "e"));
    sleep_ms(700);
    kill(pid, SIGINT);
    int status = cli_wait(pid);
    char *err = cli_slurp(cli_path(dir, "e"), NULL);
    ck_assert_msg(status == 0, "exit %d: %s", status, err);
    free(err);
    SlModel *m = load_ok(out);
    ck_assert_str_eq(sl_tensorset_get_meta(m->meta, "steps_done"), "1");
    sl_model_free(m);
    cli_rmtree(dir);
}
END_TEST

/* 19.8: a configuration that could never be saved (or loaded) is refused
 * before training, with the reason. */
START_TEST(test_unsaveable_refused_at_start)
{
    const char *dir = cli_tempdir(), *out = cli_path(dir, "m.st");
    const char *args[] = {"train", "--out", out, "--max-num", "5000", "--steps", "100000000", NULL};
    int status;
    char *err;
    ck_assert_msg(refused_before_training(args, dir, &status, &err), "still training after 30 s: %s", err);
    ck_assert_msg(status == 2, "exit %d: %s", status, err);
    ck_assert_msg(strstr(err, "could never be saved") && strstr(err, "MB"), "%s", err);
    free(err);
    ck_assert(access(out, F_OK) != 0);
    cli_rmtree(dir);
}
END_TEST

/* 17.6: --steps 0 has no loss: none printed as 0, none in the metadata. */
START_TEST(test_steps_zero_no_loss)
{
    const char *dir = cli_tempdir(), *out = cli_path(dir, "m.st");
    CliRun r;
    const char *args[] = {"train", "--out", out, "--steps", "0", TINY, NULL};
    cli_run(&r, NULL, args);
    ck_assert_msg(r.status == 0, "exit %d: %s", r.status, r.err);
    ck_assert_msg(!strstr(r.out, "final loss 0") && strstr(r.out, "no loss"), "%s", r.out);
    cli_run_free(&r);
    SlModel *m = load_ok(out);
    ck_assert_ptr_null(sl_tensorset_get_meta(m->meta, "final_loss"));
    ck_assert_ptr_null(sl_tensorset_get_meta(m->meta, "last_batch_loss"));
    ck_assert_str_eq(sl_tensorset_get_meta(m->meta, "steps_done"), "0");
    sl_model_free(m);
    cli_rmtree(dir);
}
END_TEST

/* ---- a whole run, Ctrl-C, the usage ------------------------------------------ */

/* sortlens train [--out MODEL] EXTRA...: its exit status (it must exit
 * normally), stdout and stderr (malloc'ed). */
static int run_train(char *const extra[], const char *model, char **out, char **errtext)
{
    const char *dir = cli_tempdir(), *outf = cli_path(dir, "out"), *errf = cli_path(dir, "err");
    const char *argv[48] = {"train"};
    int argc = 1;
    if (model) {
        argv[argc++] = "--out";
        argv[argc++] = model;
    }
    for (int i = 0; extra[i]; i++)
        argv[argc++] = extra[i];
    argv[argc] = NULL;
    int status = cli_wait(cli_spawn(argv, outf, errf));
    ck_assert_msg(status < 128, "sortlens did not exit normally");
    *out = slurp_file(outf, NULL);
    *errtext = slurp_file(errf, NULL);
    cli_rmtree(dir);
    return status;
}

#define TINY_ARGS "--steps", "60", "--list-len", "3", "--max-num", "6", "--d-model", "16", "--heads", "2", \
                  "--layers", "2", "--batch", "32", "--seed", "3", "--eval-every", "30", "--eval-lists", "50"

START_TEST(test_cli_train_tiny_model)
{
    if (!cli_exe()) {
        printf("skipped: no sortlens executable beside the tests\n");
        return;
    }
    char a[] = "/tmp/sortlens-train-a-XXXXXX", b[] = "/tmp/sortlens-train-b-XXXXXX";
    close(mkstemp(a));
    close(mkstemp(b));
    char *extra[] = {TINY_ARGS, "--schedule", "cosine", "--warmup", "5", NULL};
    char *out, *errtext;
    ck_assert_int_eq(run_train(extra, a, &out, &errtext), 0);
    ck_assert_msg(strstr(out, "step 30: held-out loss"), "%s", out);
    ck_assert_msg(strstr(out, "trained 60 steps"), "%s", out);
    ck_assert_msg(strstr(out, "wrote /tmp/sortlens-train-a-"), "%s", out);
    free(out);
    free(errtext);
    SlError err = {0};
    SlModel *m = sl_ckpt_load(a, &err);
    ck_assert_msg(m != NULL, "%s", err.message);
    ck_assert_int_eq(m->cfg.n_layers, 2);
    ck_assert_int_eq(m->cfg.n_heads, 2);
    ck_assert_int_eq(m->cfg.d_model, 16);
    ck_assert_int_eq(m->cfg.d_head, 8);   /* d_model / heads */
    ck_assert_int_eq(m->cfg.list_len, 3);
    ck_assert_int_eq(m->cfg.d_vocab_out, 6);
    const char *cmd = sl_tensorset_get_meta(m->meta, "training_command");
    ck_assert_msg(cmd && strstr(cmd, "sortlens train --steps 60 --list-len 3") && strstr(cmd, "--layers 2 --batch 32") &&
                  !strstr(cmd, "--out"),
                  "%s", cmd ? cmd : "(none)");
    ck_assert_str_eq(sl_tensorset_get_meta(m->meta, "seed"), "3");
    ck_assert_str_eq(sl_tensorset_get_meta(m->meta, "steps_done"), "60");
    ck_assert_str_eq(sl_tensorset_get_meta(m->meta, "interrupted"), "false");
    ck_assert_str_eq(sl_tensorset_get_meta(m->meta, "schedule"), "cosine");
    ck_assert_ptr_nonnull(sl_tensorset_get_meta(m->meta, "final_loss"));
    sl_model_free(m);
    /* The same command again, written elsewhere: the same bytes. */
    char *extra_b[] = {TINY_ARGS, "--schedule", "cosine", "--warmup", "5", NULL};
    ck_assert_int_eq(run_train(extra_b, b, &out, &errtext), 0);
    free(out);
    free(errtext);
    size_t la, lb;
    char *fa = slurp_file(a, &la), *fb = slurp_file(b, &lb);
    ck_assert_msg(la == lb && memcmp(fa, fb, la) == 0, "two runs with the same seed wrote different files");
    free(fa);
    free(fb);
    unlink(a);
    unlink(b);
}
END_TEST

START_TEST(test_cli_train_sigint_saves)
{
    const char *exe = cli_exe();
    if (!exe) {
        printf("skipped: no sortlens executable beside the tests\n");
        return;
    }
    char model[] = "/tmp/sortlens-train-int-XXXXXX", outf[] = "/tmp/sortlens-train-o-XXXXXX", errf[] = "/tmp/sortlens-train-e-XXXXXX";
    close(mkstemp(model));
    close(mkstemp(outf));
    close(mkstemp(errf));
    unlink(model);
    const char *argv[] = {"train", "--out", model, "--steps", "100000000", "--list-len", "3", "--max-num", "6",
                    "--d-model", "16", "--batch", "8", "--eval-lists", "10", NULL};
    pid_t pid = cli_spawn(argv, outf, errf);
    struct timespec ts = {0, 300 * 1000 * 1000};
    nanosleep(&ts, NULL);
    kill(pid, SIGINT);
    ck_assert_int_eq(cli_wait(pid), 0);
    char *errtext = slurp_file(errf, NULL);
    ck_assert_msg(strstr(errtext, "interrupted after") && strstr(errtext, "saved the model so far"), "%s", errtext);
    free(errtext);
    SlError err = {0};
    SlModel *m = sl_ckpt_load(model, &err);
    ck_assert_msg(m != NULL, "%s", err.message);
    ck_assert_str_eq(sl_tensorset_get_meta(m->meta, "interrupted"), "true");
    long done = atol(sl_tensorset_get_meta(m->meta, "steps_done"));
    ck_assert(done > 0 && done < 100000000);
    sl_model_free(m);
    unlink(model);
    unlink(outf);
    unlink(errf);
}
END_TEST

static void expect_usage_error(char *const extra[], bool with_out, const char *needle)
{
    char *out, *errtext;
    int rc = run_train(extra, with_out ? "/tmp/sortlens-train-never-written" : NULL, &out, &errtext);
    ck_assert_msg(rc == 2, "exit %d for '%s'", rc, needle);
    ck_assert_msg(strstr(errtext, needle), "stderr '%s' lacks '%s'", errtext, needle);
    ck_assert_str_eq(out, "");
    free(out);
    free(errtext);
}

START_TEST(test_cli_train_usage)
{
    if (!cli_exe()) {
        printf("skipped: no sortlens executable beside the tests\n");
        return;
    }
    char *out, *errtext;
    char *help[] = {"--help", NULL};
    ck_assert_int_eq(run_train(help, NULL, &out, &errtext), 0);
    ck_assert(strstr(out, "usage: sortlens train --out PATH") && strstr(out, "d-model / heads"));
    free(out);
    free(errtext);
    char *none[] = {NULL};
    expect_usage_error(none, false, "sortlens: train: --out PATH is required");
    char *sched[] = {"--schedule", "linear", NULL};
    expect_usage_error(sched, true, "--schedule: 'linear' is not constant or cosine");
    char *heads[] = {"--heads", "3", NULL};
    expect_usage_error(heads, true, "--d-model 128 is not a multiple of --heads 3");
    char *betas[] = {"--betas", "0.9", NULL};
    expect_usage_error(betas, true, "--betas: '0.9' is not two numbers");
    char *steps[] = {"--steps", "-1", NULL};
    expect_usage_error(steps, true, "--steps: -1 is outside 0..1000000000");
    char *unknown[] = {"--lr-max", "1", NULL};
    expect_usage_error(unknown, true, "unknown option '--lr-max'");
    char *warm[] = {"--steps", "10", "--warmup", "20", NULL};
    expect_usage_error(warm, true, "--warmup 20 is longer than --steps 10");
    ck_assert(access("/tmp/sortlens-train-never-written", F_OK) != 0);
    /* a learning rate that blows up: exit 1, nothing written */
    char *diverge[] = {"--steps", "200", "--lr", "500", "--list-len", "3", "--max-num", "6", "--d-model", "16", "--batch", "8", NULL};
    ck_assert_int_eq(run_train(diverge, "/tmp/sortlens-train-never-written", &out, &errtext), 1);
    ck_assert_msg(strstr(errtext, "training diverged; try a lower --lr"), "%s", errtext);
    free(out);
    free(errtext);
    ck_assert(access("/tmp/sortlens-train-never-written", F_OK) != 0);
}
END_TEST

static Suite *make(void)
{
    Suite *s = suite_create("cli-train");
    TCase *tc = tcase_create("train");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_out_fifo_written_through);
    tcase_add_test(tc, test_out_device_written_through);
    tcase_add_test(tc, test_out_symlink_followed);
    tcase_add_test(tc, test_out_tmp_name_untouched);
    tcase_add_test(tc, test_out_failed_write_leaves_nothing);
    tcase_add_test(tc, test_out_checked_at_start);
    tcase_add_test(tc, test_sigterm_sighup_save);
    tcase_add_test(tc, test_sigint_during_final_eval_saves);
    tcase_add_test(tc, test_unsaveable_refused_at_start);
    tcase_add_test(tc, test_steps_zero_no_loss);
    tcase_add_test(tc, test_cli_train_tiny_model);
    tcase_add_test(tc, test_cli_train_sigint_saves);
    tcase_add_test(tc, test_cli_train_usage);
    suite_add_tcase(s, tc);
    return s;
}

int main(int argc, char **argv) { return cli_main(argc, argv, make); }
