/* test_cli_convert.c: convert and info as a user runs them on the 2-layer
 * checkpoint: --force, the usage errors, no temporary file left, the
 * converted file read back by PyTorch, and info's JSON checked by hand. */
#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_run.h"
#include "test_util.h"

static char tmpdir[64];

static void make_tmpdir(void) { test_tmpdir_make(tmpdir, "pt"); }
static void remove_tmpdir(void) { test_tmpdir_remove(tmpdir); }

/* Runs a shell command; returns its exit status and its stderr in errbuf. */
static int run(const char *cmd, char *errbuf, size_t errsize)
{
    char errfile[160];
    snprintf(errfile, sizeof errfile, "%s/stderr.txt", tmpdir);
    return cli_sh(cmd, errfile, errbuf, errsize);
}

START_TEST(test_cli_convert_and_info)
{
    const char *exe = cli_exe();
    const char *pt = testdata_path("multi_2l2h.pt");
    if (!exe) {
        printf("SKIP test_cli_convert_and_info: the sortlens executable is not beside the tests\n");
        return;
    }
    make_tmpdir();
    char cmd[8192], errbuf[1024], out[160], json[160];
    snprintf(out, sizeof out, "%s/multi.safetensors", tmpdir);
    snprintf(json, sizeof json, "%s/info.json", tmpdir);

    snprintf(cmd, sizeof cmd, "'%s' convert --help > /dev/null", exe);
    ck_assert_int_eq(run(cmd, errbuf, sizeof errbuf), 0);
    snprintf(cmd, sizeof cmd, "'%s' info --help > /dev/null", exe);
    ck_assert_int_eq(run(cmd, errbuf, sizeof errbuf), 0);
    snprintf(cmd, sizeof cmd, "'%s' convert '%s' '%s'", exe, pt, out);
    ck_assert_msg(run(cmd, errbuf, sizeof errbuf) == 0, "%s", errbuf);
    /* never overwrite without --force */
    ck_assert_int_eq(run(cmd, errbuf, sizeof errbuf), 2);
    ck_assert_msg(strstr(errbuf, "sortlens: ") == errbuf && strstr(errbuf, "multi.safetensors: already exists; pass --force"),
                  "%s", errbuf);
    snprintf(cmd, sizeof cmd, "'%s' convert --force '%s' '%s'", exe, pt, out);
    ck_assert_msg(run(cmd, errbuf, sizeof errbuf) == 0, "%s", errbuf);
    snprintf(cmd, sizeof cmd, "'%s' convert '%s'", exe, pt);
    ck_assert_int_eq(run(cmd, errbuf, sizeof errbuf), 2);
    ck_assert_ptr_nonnull(strstr(errbuf, "expected IN and OUT"));
    /* no temporary file is left behind */
    snprintf(cmd, sizeof cmd, "test $(ls '%s' | grep -c tmp) -eq 0", tmpdir);
    ck_assert_int_eq(system(cmd), 0);

    if (test_have_torch()) {
        snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s' compare '%s' '%s' > /dev/null",
                 testdata_path("torch_safetensors.py"), out, pt);
        ck_assert_msg(run(cmd, errbuf, sizeof errbuf) == 0, "%s", errbuf);
    } else {
        printf("SKIP (PyTorch part) test_cli_convert_and_info: /usr/bin/python3 with torch is absent\n");
    }

    snprintf(cmd, sizeof cmd, "'%s' info --json --model '%s' > '%s'", exe, out, json);
    ck_assert_msg(run(cmd, errbuf, sizeof errbuf) == 0, "%s", errbuf);
    json_error_t jerr;
    json_t *root = json_load_file(json, 0, &jerr);
    ck_assert_msg(root != NULL, "%s", jerr.text);
    ck_assert_str_eq(json_string_value(json_object_get(root, "format")), "safetensors");
    json_t *cfg = json_object_get(root, "config");
    ck_assert_int_eq(json_integer_value(json_object_get(cfg, "n_layers")), 2);
    ck_assert_int_eq(json_integer_value(json_object_get(cfg, "n_heads")), 2);
    ck_assert_int_eq(json_integer_value(json_object_get(cfg, "d_vocab")), 22);
    ck_assert_int_eq(json_integer_value(json_object_get(cfg, "list_len")), 5);
    /* 22*32 + 12*32 + 2 layers * (4*2*32*16 + 3*2*16 + 32) + 32*20 + 20, by hand */
    ck_assert_int_eq(json_integer_value(json_object_get(root, "parameters")), 704 + 384 + 2 * (4096 + 96 + 32) + 640 + 20);
    ck_assert(json_is_true(json_object_get(json_object_get(json_object_get(root, "biases"), "b_Q"), "present")));
    ck_assert(json_is_false(json_object_get(json_object_get(json_object_get(root, "biases"), "b_Q"), "all_zero")));
    ck_assert_int_eq(json_array_size(json_object_get(root, "tensors")), 2 * 10 + 4);
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(root, "metadata"), "d_model")), "32");
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(root, "metadata"), "converted_from")), "multi_2l2h.pt");
    json_decref(root);

    snprintf(cmd, sizeof cmd, "'%s' info --model '%s' > /dev/null", exe, pt);
    ck_assert_msg(run(cmd, errbuf, sizeof errbuf) == 0, "%s", errbuf);
    snprintf(cmd, sizeof cmd, "'%s' info --model /nonexistent/x.pt", exe);
    ck_assert_int_eq(run(cmd, errbuf, sizeof errbuf), 1);
    ck_assert_str_eq(errbuf, "sortlens: /nonexistent/x.pt: cannot open: No such file or directory\n");
    snprintf(cmd, sizeof cmd, "'%s' info --model '%s'", exe, testdata_path("multi_2l2h_expected.safetensors"));
    ck_assert_int_eq(run(cmd, errbuf, sizeof errbuf), 1);
    ck_assert_ptr_nonnull(strstr(errbuf, "multi_2l2h_expected.safetensors: missing weight embed.W_E"));
    snprintf(cmd, sizeof cmd, "'%s' info --frobnicate", exe);
    ck_assert_int_eq(run(cmd, errbuf, sizeof errbuf), 2);
    snprintf(cmd, sizeof cmd, "'%s' info --model", exe);
    ck_assert_int_eq(run(cmd, errbuf, sizeof errbuf), 2);
    ck_assert_ptr_nonnull(strstr(errbuf, "needs a value"));
    remove_tmpdir();
}
END_TEST

static Suite *make(void)
{
    Suite *s = suite_create("cli-convert");
    TCase *tc = tcase_create("convert");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_cli_convert_and_info);
    suite_add_tcase(s, tc);
    return s;
}

int main(int argc, char **argv) { return cli_main(argc, argv, make); }
