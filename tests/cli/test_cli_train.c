/* test_cli_train.c: `sortlens train` as a user runs it: what it checks
 * before training, what it saves when stopped, what it writes after no
 * step (issue 19 items 1-3, 7, 8; issue 17 item 6). */
#include <check.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
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
 * the path the user gave and why. */
START_TEST(test_out_checked_at_start)
{
    const char *dir = cli_tempdir();
    const char *missing = cli_path(dir, "nodir/m.st"), *adir = cli_path(dir, "adir");
    ck_assert_int_eq(mkdir(adir, 0755), 0);
    struct {
        const char *out, *why;
    } cases[] = {{missing, "No such file or directory"}, {adir, "is a directory"}};
    for (int i = 0; i < 2; i++) {
        CliRun r;
        const char *args[] = {"train", "--out", cases[i].out, "--steps", "3000", TINY, NULL};
        cli_run(&r, NULL, args);
        ck_assert_msg(r.status == 1, "%s: exit %d", cases[i].out, r.status);
        ck_assert_msg(strstr(r.out, "trained") == NULL, "%s: trained before finding it cannot be written: %s",
                      cases[i].out, r.out);
        ck_assert_msg(strstr(r.err, cases[i].out) && strstr(r.err, cases[i].why) && !strstr(r.err, ".tmp"),
                      "%s: %s", cases[i].out, r.err);
        cli_run_free(&r);
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
    CliRun r;
    const char *args[] = {"train", "--out", out, "--max-num", "5000", "--steps", "100000000", NULL};
    cli_run(&r, NULL, args);
    ck_assert_msg(r.status == 2, "exit %d: %s", r.status, r.err);
    ck_assert_msg(strstr(r.err, "could never be saved") && strstr(r.err, "MB"), "%s", r.err);
    ck_assert_str_eq(r.out, "");
    cli_run_free(&r);
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
    suite_add_tcase(s, tc);
    return s;
}

int main(int argc, char **argv) { return cli_main(argc, argv, make); }
