/* test_fuzz_regressions.c: each input that once crashed a fuzzer (or broke
 * one of its checks), loaded the way a user would, must now be refused with
 * the message that names what is wrong.  The inputs live in the corpus as
 * corpus/<target>/crash-*, where the replay tests also run them.
 *
 * Usage: test-fuzz-regressions CORPUS_DIR */
#include <stdio.h>
#include <string.h>

#include "sortlens/checkpoint.h"
#include "test_util.h"

static const char *corpus;

static const struct {
    const char *file;      /* under corpus/ */
    const char *message;   /* a part of the expected message */
} cases[] = {
    /* 33 KB of safetensors (d_model 1, d_vocab 8194) asked for 768 MB of
     * circuit tables: allocation must stay bounded by the file's size */
    {"safetensors/crash-tables-blowup.safetensors",
     "the circuit tables of this model would need 768 MB (d_vocab 8194, n_ctx 4, 1 heads, d_model 1)"},
    /* a ZIP whose only entry is named "\n/": the message quoted the name
     * and so spanned two lines; control characters are now escaped */
    {"pt/crash-newline-in-entry-name.pt", "no \\n/data.pkl in the archive"},
};

START_TEST(test_crash_input)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", corpus, cases[_i].file);
    SlError err = {0};
    SlModel *m = sl_ckpt_load(path, &err);
    ck_assert_msg(m == NULL, "%s: loaded", cases[_i].file);
    ck_assert_msg(strstr(err.message, cases[_i].message) != NULL, "%s: message '%s' lacks '%s'",
                  cases[_i].file, err.message, cases[_i].message);
    ck_assert_msg(strncmp(err.message, path, strlen(path)) == 0, "message '%s' does not start with the path",
                  err.message);
}
END_TEST

/* The rule behind the second case, for every message: names from files may
 * hold control characters, which must never reach the terminal. */
START_TEST(test_messages_have_no_control_bytes)
{
    SlError err = {0};
    sl_error_set(&err, SL_EFORMAT, "tensor %s is odd", "a\nb\x1b[2Jc\x7f\td");
    ck_assert_str_eq(err.message, "tensor a\\nb\\x1b[2Jc\\x7f\\td is odd");
    sl_error_prefix(&err, "dir\rname");
    ck_assert_str_eq(err.message, "dir\\rname: tensor a\\nb\\x1b[2Jc\\x7f\\td is odd");
    /* C1 controls (U+009B is a one-character CSI), lone bytes, backslashes */
    sl_error_set(&err, SL_EFORMAT, "tensor %s", "x\xc2\x9b" "2Jy\x9b" "z\\");
    ck_assert_str_eq(err.message, "tensor x\\u009b2Jy\\x9bz\\\\");
    /* UTF-8 passes through untouched */
    sl_error_set(&err, SL_EFORMAT, "caf\xc3\xa9");
    ck_assert_str_eq(err.message, "caf\xc3\xa9");
}
END_TEST

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
        return 2;
    }
    corpus = argv[1];
    Suite *s = suite_create("fuzz-regressions");
    TCase *tc = tcase_create("crash inputs");
    tcase_add_loop_test(tc, test_crash_input, 0, (int)(sizeof cases / sizeof cases[0]));
    tcase_add_test(tc, test_messages_have_no_control_bytes);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
