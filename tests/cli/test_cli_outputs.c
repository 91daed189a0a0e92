/* test_cli_outputs.c: the files the commands write and what they print
 * when stdout fails (issue 19 items 1, 4, 5, 6; issue 14 item 6). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "cli_run.h"
#include "sortlens/checkpoint.h"
#include "sortlens/safetensors.h"
#include "test_util.h"

#define LIST "42", "17", "26", "3", "49", "0", "26", "11", "8", "30"

/* 19.4 and 14.6: predict --cache replaces no existing file without
 * --force, and says so when the file is the model it reads. */
START_TEST(test_cache_refuses_existing_without_force)
{
    const char *dir = cli_tempdir();
    const char *model = cli_copy_model(dir, "model.st");
    if (!model) {
        printf("skipped: no bundled model in data/\n");
        cli_rmtree(dir);
        return;
    }
    size_t before_len, after_len;
    char *before = cli_slurp(model, &before_len);
    CliRun r;
    const char *own[] = {"predict", "--model", model, "--cache", model, LIST, NULL};
    cli_run(&r, NULL, own);
    ck_assert_msg(r.status == 2 && strstr(r.err, "is the model being read") && strstr(r.err, "--force"), "%d %s",
                  r.status, r.err);
    ck_assert_str_eq(r.out, "");
    cli_run_free(&r);
    char *after = cli_slurp(model, &after_len);
    ck_assert_msg(before_len == after_len && memcmp(before, after, before_len) == 0, "the model was overwritten");
    free(after);
    const char *other = cli_path(dir, "notes.txt");
    FILE *f = fopen(other, "w");
    fputs("keep me", f);
    fclose(f);
    const char *existing[] = {"predict", "--model", model, "--cache", other, LIST, NULL};
    cli_run(&r, NULL, existing);
    ck_assert_msg(r.status == 2 && strstr(r.err, "already exists; pass --force"), "%d %s", r.status, r.err);
    cli_run_free(&r);
    char *text = cli_slurp(other, NULL);
    ck_assert_str_eq(text, "keep me");
    free(text);
    const char *forced[] = {"predict", "--model", model, "--cache", other, "--force", LIST, NULL};
    cli_run(&r, NULL, forced);
    ck_assert_msg(r.status == 0, "%d %s", r.status, r.err);
    cli_run_free(&r);
    SlError err = {0};
    SlTensorSet *ts = sl_safetensors_read(other, &err);
    ck_assert_msg(ts != NULL, "%s", err.message);
    sl_tensorset_free(ts);
    free(before);
    cli_rmtree(dir);
}
END_TEST

/* 14.6: the cache holds blocks.0.hook_resid_pre, which for the reference's
 * first list equals PyTorch's hook_embed + hook_pos_embed (TransformerLens
 * defines resid_pre of layer 0 so). */
START_TEST(test_cache_resid_pre_matches_pytorch)
{
    const char *seed = shared_path("seed-model/sort_fixed_len_list_model.pt");
    const char *refpath = shared_path("reference/reference.safetensors");
    if (!seed || !refpath) {
        printf("skipped: ../shared seed model or reference absent\n");
        return;
    }
    SlError err = {0};
    SlTensorSet *ref = sl_safetensors_read(refpath, &err);
    ck_assert_msg(ref != NULL, "%s", err.message);
    const SlTensor *tok = sl_tensorset_find(ref, "tokens"), *emb = sl_tensorset_find(ref, "cache4.hook_embed"),
                 *pos = sl_tensorset_find(ref, "cache4.hook_pos_embed");
    ck_assert(tok && emb && pos && tok->dtype == SL_DT_I64);
    char words[10][8];
    const char *args[20] = {"predict", "--teacher-forced", "--model", seed, "--cache", NULL};
    const char *dir = cli_tempdir(), *out = cli_path(dir, "cache.st");
    args[5] = out;
    for (int i = 0; i < 10; i++) {
        int64_t v;
        memcpy(&v, (const char *)tok->data + 8 * (1 + i), 8);
        snprintf(words[i], sizeof words[i], "%lld", (long long)v);
        args[6 + i] = words[i];
    }
    args[16] = NULL;
    CliRun r;
    cli_run(&r, NULL, args);
    ck_assert_msg(r.status == 0, "%d %s", r.status, r.err);
    cli_run_free(&r);
    SlTensorSet *got = sl_safetensors_read(out, &err);
    ck_assert_msg(got != NULL, "%s", err.message);
    const SlTensor *rp = sl_tensorset_find(got, "blocks.0.hook_resid_pre");
    ck_assert_msg(rp != NULL, "the cache lacks blocks.0.hook_resid_pre");
    ck_assert(rp->ndim == 3 && rp->shape[0] == 1 && rp->shape[1] == 22 && rp->shape[2] == 128);
    const float *e = emb->data, *p = pos->data, *x = rp->data;   /* the reference's first list: [22, 128] */
    double worst = 0;
    for (int i = 0; i < 22 * 128; i++) {
        double d = (double)x[i] - ((double)e[i] + (double)p[i]);
        worst = d < 0 ? (-d > worst ? -d : worst) : (d > worst ? d : worst);
    }
    printf("  predict --cache blocks.0.hook_resid_pre vs PyTorch embed + pos_embed: max |diff| %.3g\n", worst);
    ck_assert_msg(worst < 1e-5, "max |diff| %g", worst);
    sl_tensorset_free(got);
    sl_tensorset_free(ref);
    cli_rmtree(dir);
}
END_TEST

/* 19.1: --cache onto a character device (a null device made here) writes
 * through it and leaves it a device. */
START_TEST(test_cache_device_written_through)
{
    if (!cli_is_root()) {
        printf("skipped: device nodes need root (mknod)\n");
        return;
    }
    const char *dir = cli_tempdir(), *null = cli_path(dir, "null");
    ck_assert_int_eq(mknod(null, S_IFCHR | 0666, makedev(1, 3)), 0);
    CliRun r;
    const char *args[] = {"predict", "--cache", null, LIST, NULL};
    cli_run(&r, NULL, args);
    ck_assert_msg(r.status == 0, "%d %s", r.status, r.err);
    cli_run_free(&r);
    struct stat st;
    ck_assert_int_eq(lstat(null, &st), 0);
    ck_assert_msg(S_ISCHR(st.st_mode), "the device at --cache was replaced");
    cli_rmtree(dir);
}
END_TEST

/* One run's stdout on the full device: exit 1 and exactly one message. */
static void check_full_run(const char *full, const char *const args[])
{
    char shown[256] = "";
    for (int i = 0; args[i] && strlen(shown) < 200; i++)
        snprintf(shown + strlen(shown), sizeof shown - strlen(shown), "%s%s", i ? " " : "", args[i]);
    CliRun r;
    cli_run(&r, full, args);
    ck_assert_msg(r.status == 1, "%s > full: exit %d (%s)", shown, r.status, r.err);
    ck_assert_msg(strcmp(r.err, "sortlens: standard output: No space left on device\n") == 0, "%s > full: stderr '%s'",
                  shown, r.err);
    cli_run_free(&r);
}

/* The commands `sortlens --help` lists (the two-space indented first words
 * under "commands:"), so that a new command's --help is checked too;
 * returns how many went into names. */
static int listed_commands(char names[][32], int max)
{
    CliRun r;
    const char *help[] = {"--help", NULL};
    cli_run(&r, NULL, help);
    ck_assert_msg(r.status == 0, "--help: exit %d (%s)", r.status, r.err);
    const char *at = strstr(r.out, "\ncommands:\n");
    ck_assert_msg(at != NULL, "--help lists no commands: %s", r.out);
    int count = 0;
    for (at = strchr(at + 1, '\n') + 1; count < max && at[0] == ' ' && at[1] == ' ' && at[2] != ' ';) {
        int len = (int)strcspn(at + 2, " \n");
        ck_assert(len > 0 && len < 32);
        memcpy(names[count], at + 2, (size_t)len);
        names[count++][len] = '\0';
        const char *eol = strchr(at, '\n');
        if (!eol)
            break;
        at = eol + 1;
    }
    cli_run_free(&r);
    return count;
}

/* 19.5: standard output on a full device (made here): every command that
 * prints, every command's --help (each command `sortlens --help` lists),
 * and --version say so once and exit 1. */
START_TEST(test_stdout_full_one_message)
{
    if (!cli_is_root()) {
        printf("skipped: device nodes need root (mknod)\n");
        return;
    }
    const char *dir = cli_tempdir(), *full = cli_path(dir, "full");
    ck_assert_int_eq(mknod(full, S_IFCHR | 0666, makedev(1, 7)), 0);
    const char *cases[][24] = {
        {"info", NULL},
        {"info", "--json", NULL},
        {"circuit", "ov", NULL},
        {"circuit", "qk-token-token", "--format", "json", NULL},
        {"predict", LIST, NULL},
        {"predict", "--json", LIST, NULL},
        {"eval", "--lists", "20", NULL},
        {"eval", "--lists", "20", "--json", NULL},
        {"explain", "--lists", "20", NULL},
        {"explain", "--lists", "20", "--json", NULL},
        {"generate", "--kind", "uniform", "--lists", "5", NULL},
        {"mean", "--lists", "10", "--json", NULL},
        {"attribute", "--json", LIST, NULL},
        {"patch", "--clean", "42 17 26 3 49 0 26 11 8 30", "--corrupt", "42 17 26 3 49 0 26 11 8 31", NULL},
        {"plot", "attention", "--out", "-", NULL},
        {"--help", NULL},
        {"--version", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        check_full_run(full, cases[i]);
    char names[32][32];
    int count = listed_commands(names, 32);
    ck_assert_msg(count >= 14, "--help lists %d commands", count);
    for (int i = 0; i < count; i++) {
        const char *help[] = {names[i], "--help", NULL};
        check_full_run(full, help);
    }
    struct stat st;
    ck_assert_int_eq(lstat(full, &st), 0);
    ck_assert(S_ISCHR(st.st_mode));
    cli_rmtree(dir);
}
END_TEST

/* 19.6: convert of a file whose name is not UTF-8 works, and its name is
 * in converted_from with the bad byte spelled out. */
START_TEST(test_convert_non_utf8_name)
{
    const char *dir = cli_tempdir();
    const char *in = cli_copy_model(dir, "m\xff.st");
    if (!in) {
        printf("skipped: no bundled model in data/\n");
        cli_rmtree(dir);
        return;
    }
    const char *out = cli_path(dir, "out.st");
    CliRun r;
    const char *args[] = {"convert", in, out, NULL};
    cli_run(&r, NULL, args);
    ck_assert_msg(r.status == 0, "%d %s", r.status, r.err);
    cli_run_free(&r);
    SlError err = {0};
    SlModel *m = sl_ckpt_load(out, &err);
    ck_assert_msg(m != NULL, "%s", err.message);
    ck_assert_str_eq(sl_tensorset_get_meta(m->meta, "converted_from"), "m\\xff.st");
    sl_model_free(m);
    cli_rmtree(dir);
}
END_TEST

static Suite *make(void)
{
    Suite *s = suite_create("cli-outputs");
    TCase *tc = tcase_create("outputs");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_cache_refuses_existing_without_force);
    tcase_add_test(tc, test_cache_resid_pre_matches_pytorch);
    tcase_add_test(tc, test_cache_device_written_through);
    tcase_add_test(tc, test_stdout_full_one_message);
    tcase_add_test(tc, test_convert_non_utf8_name);
    suite_add_tcase(s, tc);
    return s;
}

int main(int argc, char **argv) { return cli_main(argc, argv, make); }
