/* test_atomic_write.c: the one file writer (sortlens/atomic_write.h): what
 * it leaves in the directory after success, failure and kill -9, and what it
 * does with what already stands at the path. */
#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sortlens/atomic_write.h"
#include "test_util.h"

static char dir[64];
static char path_buf[256];

static const char *in_dir(const char *name)
{
    snprintf(path_buf, sizeof path_buf, "%s/%s", dir, name);
    return path_buf;
}

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/sortlens-atomic-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}

static int entries(void)
{
    DIR *d = opendir(dir);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    closedir(d);
    return n;
}

static char *slurp(const char *p)
{
    static char buf[256];
    FILE *f = fopen(p, "r");
    ck_assert_ptr_nonnull(f);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static void write_text(const char *p, const char *text)
{
    SlError err = {0};
    SlAtomicFile *f = sl_atomic_open(p, &err);
    ck_assert_msg(f != NULL, "%s", err.message);
    ck_assert_int_eq(sl_atomic_write(f, text, strlen(text), &err), 0);
    ck_assert_msg(sl_atomic_commit(f, &err) == 0, "%s", err.message);
}

START_TEST(test_replaces_regular_file_with_usual_mode)
{
    const char *p = in_dir("m.st");
    write_text(p, "old");
    write_text(p, "new");
    ck_assert_str_eq(slurp(p), "new");
    ck_assert_int_eq(entries(), 1);
    struct stat st;
    ck_assert_int_eq(stat(p, &st), 0);
    mode_t mask = umask(0);
    umask(mask);
    ck_assert_int_eq(st.st_mode & 0777, 0666 & ~mask);
}
END_TEST

START_TEST(test_abort_and_kill_leave_nothing)
{
    const char *p = in_dir("m.st");
    write_text(p, "old");
    SlError err = {0};
    SlAtomicFile *f = sl_atomic_open(p, &err);
    ck_assert_int_eq(sl_atomic_write(f, "half", 4, &err), 0);
    sl_atomic_abort(f);
    ck_assert_int_eq(entries(), 1);
    ck_assert_str_eq(slurp(p), "old");
    /* kill -9 in the middle of a write */
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        SlAtomicFile *g = sl_atomic_open(p, NULL);
        if (g)
            sl_atomic_write(g, "half", 4, NULL);
        raise(SIGKILL);
        _exit(0);
    }
    int st;
    waitpid(pid, &st, 0);
    ck_assert(WIFSIGNALED(st));
    ck_assert_msg(entries() == 1, "kill -9 during a write left %d entries", entries());
    ck_assert_str_eq(slurp(p), "old");
}
END_TEST

START_TEST(test_fifo_written_through_and_dir_refused)
{
    const char *fifo = in_dir("pipe");
    ck_assert_int_eq(mkfifo(fifo, 0600), 0);
    int rd = open(fifo, O_RDONLY | O_NONBLOCK);   /* a reader, so the writer's open does not wait */
    ck_assert(rd >= 0);
    write_text(fifo, "through");
    char buf[16] = {0};
    ck_assert_int_eq(read(rd, buf, sizeof buf - 1), 7);
    ck_assert_str_eq(buf, "through");
    close(rd);
    struct stat st;
    ck_assert_int_eq(lstat(fifo, &st), 0);
    ck_assert(S_ISFIFO(st.st_mode));
    SlError err = {0};
    ck_assert_int_eq(mkdir(in_dir("adir"), 0755), 0);
    ck_assert_ptr_null(sl_atomic_open(in_dir("adir"), &err));
    ck_assert_msg(strstr(err.message, "adir: is a directory"), "%s", err.message);
}
END_TEST

START_TEST(test_links_followed_dangling_refused)
{
    write_text(in_dir("real.st"), "old");
    ck_assert_int_eq(symlink("real.st", in_dir("link.st")), 0);
    write_text(in_dir("link.st"), "new");
    struct stat st;
    ck_assert_int_eq(lstat(in_dir("link.st"), &st), 0);
    ck_assert(S_ISLNK(st.st_mode));
    ck_assert_str_eq(slurp(in_dir("real.st")), "new");
    ck_assert_int_eq(symlink("nowhere", in_dir("dangling")), 0);
    SlError err = {0};
    ck_assert_ptr_null(sl_atomic_open(in_dir("dangling"), &err));
    ck_assert_msg(strstr(err.message, "a symbolic link to nothing"), "%s", err.message);
    ck_assert_int_eq(entries(), 3);
}
END_TEST

START_TEST(test_check_names_path_and_reason)
{
    SlError err = {0};
    bool exists = true;
    const char *missing = in_dir("nodir/m.st");
    ck_assert_int_eq(sl_atomic_check(missing, &exists, &err), SL_EIO);
    ck_assert_msg(strstr(err.message, missing) && strstr(err.message, "No such file or directory"), "%s", err.message);
    ck_assert_int_eq(sl_atomic_check(in_dir("new.st"), &exists, &err), 0);
    ck_assert(!exists);
    write_text(in_dir("old.st"), "x");
    ck_assert_int_eq(sl_atomic_check(in_dir("old.st"), &exists, &err), 0);
    ck_assert(exists);
    ck_assert_int_eq(entries(), 1);   /* the check leaves no probe behind */
    ck_assert(sl_same_file(in_dir("old.st"), in_dir("./old.st")));
}
END_TEST

/* sl_atomic_commit_new (the explorer's S): a new name gets the whole file;
 * a name something already has (a file, a link, even one to nothing, or a
 * file made after the open) keeps it, with 1 returned and nothing left. */
static int commit_new_text(const char *p, const char *text, const char *made_meanwhile)
{
    SlError err = {0};
    SlAtomicFile *f = sl_atomic_open(p, &err);
    ck_assert_msg(f != NULL, "%s", err.message);
    ck_assert_int_eq(sl_atomic_write(f, text, strlen(text), &err), 0);
    if (made_meanwhile)
        write_text(p, made_meanwhile);
    int rc = sl_atomic_commit_new(f, &err);
    ck_assert_msg(rc >= 0, "%s", err.message);
    return rc;
}

START_TEST(test_commit_new_never_replaces)
{
    ck_assert_int_eq(commit_new_text(in_dir("a.svg"), "first", NULL), 0);
    ck_assert_str_eq(slurp(in_dir("a.svg")), "first");
    ck_assert_int_eq(commit_new_text(in_dir("a.svg"), "second", NULL), 1);
    ck_assert_str_eq(slurp(in_dir("a.svg")), "first");
    ck_assert_int_eq(commit_new_text(in_dir("b.svg"), "late", "made meanwhile"), 1);
    ck_assert_str_eq(slurp(in_dir("b.svg")), "made meanwhile");
    ck_assert_int_eq(symlink("a.svg", in_dir("link.svg")), 0);
    ck_assert_int_eq(commit_new_text(in_dir("link.svg"), "through the link", NULL), 1);
    ck_assert_str_eq(slurp(in_dir("a.svg")), "first");
    ck_assert_int_eq(entries(), 3);   /* a.svg, b.svg, link.svg: no temporary left */
    struct stat st;
    ck_assert_int_eq(stat(in_dir("a.svg"), &st), 0);
    mode_t mask = umask(0);
    umask(mask);
    ck_assert_int_eq(st.st_mode & 0777, 0666 & ~mask);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("atomic_write");
    TCase *tc = tcase_create("atomic_write");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_replaces_regular_file_with_usual_mode);
    tcase_add_test(tc, test_abort_and_kill_leave_nothing);
    tcase_add_test(tc, test_fifo_written_through_and_dir_refused);
    tcase_add_test(tc, test_links_followed_dangling_refused);
    tcase_add_test(tc, test_check_names_path_and_reason);
    tcase_add_test(tc, test_commit_new_never_replaces);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
