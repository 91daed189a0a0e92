/* test_cli_hostile.c: strings from outside (a model's file name, its
 * metadata) in the command line's outputs (issue 18 item 1).  A tiny model
 * is written here into a directory whose name holds U+009B (a one-character
 * CSI), ESC, a newline and a byte that is not UTF-8, with the same in a
 * metadata key and value.  Every command that prints JSON prints only
 * printable ASCII (JSON_ENSURE_ASCII: \uXXXX for everything else), valid
 * JSON that gives the strings back, never a raw control; the text outputs
 * and messages that name them write them through sl_text_escape. */
#include <check.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli_run.h"
#include "sortlens/checkpoint.h"
#include "sortlens/model.h"
#include "sortlens/safetensors.h"
#include "test_util.h"

static const char *dir;
static char model[512];
/* U+009B, ESC [2J, a newline: valid UTF-8 */
static const char *const hostile_dir = "h\xc2\x9b\x1b[2J\nx";
static const char *const meta_key = "note\xc2\x9b" "2J";
static const char *const meta_value = "hi\x1b]0;PWNED\a\n\xc2\x9b" "31m";

/* 1 layer, 1 head, d_model 4, lists of 2 values in 0..3, in dir/sub/m.st. */
static void make_model(const char *sub)
{
    dir = cli_tempdir();
    snprintf(model, sizeof model, "%s/%s", dir, sub);
    ck_assert_int_eq(mkdir(model, 0700), 0);
    strcat(model, "/m.safetensors");
    SlTensorSet *ts = test_tiny_model_tensors();
    SlError err = {0};
    ck_assert_int_eq(sl_tensorset_set_meta(ts, meta_key, meta_value, &err), 0);
    ck_assert_msg(sl_safetensors_write(model, ts, &err) == 0, "%s", err.message);
    sl_tensorset_free(ts);
}

/* Runs args; expects exit 0 and stdout of printable ASCII and newlines only,
 * one JSON value; returns it (json_decref it). */
static json_t *run_json(const char *const args[])
{
    CliRun r;
    cli_run(&r, NULL, args);
    ck_assert_msg(r.status == 0, "%s: exit %d: %s", args[0], r.status, r.err);
    for (const unsigned char *p = (const unsigned char *)r.out; *p; p++)
        ck_assert_msg((*p >= 0x20 && *p < 0x7f) || *p == '\n', "%s --json: byte 0x%02x at %ld in '%.300s'", args[0],
                      *p, (long)(p - (const unsigned char *)r.out), r.out);
    json_error_t jerr;
    json_t *root = json_loads(r.out, 0, &jerr);
    ck_assert_msg(root != NULL, "%s --json is not JSON (%s): %.300s", args[0], jerr.text, r.out);
    cli_run_free(&r);
    return root;
}

static void expect_name(json_t *obj, const char *key, const char *want)
{
    const char *got = json_string_value(json_object_get(obj, key));
    ck_assert_msg(got && strcmp(got, want) == 0, "%s: '%s', not '%s'", key, got ? got : "(none)", want);
}

START_TEST(test_json_outputs_are_ascii)
{
    make_model(hostile_dir);
    json_t *j = run_json((const char *const[]){"info", "--json", "--model", model, NULL});
    expect_name(j, "path", model);
    expect_name(json_object_get(j, "metadata"), meta_key, meta_value);
    json_decref(j);
    j = run_json((const char *const[]){"explain", "--json", "--lists", "5", "--model", model, NULL});
    expect_name(j, "model", model);
    json_decref(j);
    j = run_json((const char *const[]){"compare", "--json", "--lists", "5", "--eval-lists", "5", model, NULL});
    expect_name(json_array_get(j, 0), "model", model);
    expect_name(json_object_get(json_array_get(j, 0), "explain"), "model", model);
    json_decref(j);
    /* the others hold no string from the file; their output is still ASCII JSON */
    const char *const *others[] = {
        (const char *const[]){"predict", "--json", "--model", model, "1", "2", NULL},
        (const char *const[]){"eval", "--json", "--lists", "5", "--model", model, NULL},
        (const char *const[]){"mean", "--json", "--lists", "3", "--model", model, NULL},
        (const char *const[]){"patch", "--json", "--clean", "0,1", "--corrupt", "0,2", "--model", model, NULL},
        (const char *const[]){"attribute", "--json", "1,2", "--model", model, NULL},
        (const char *const[]){"circuit", "ov", "--format", "json", "--model", model, NULL},
    };
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++)
        json_decref(run_json(others[i]));
    cli_rmtree(dir);
}
END_TEST

/* A file name that is not UTF-8 is written escaped (\xNN), never dropped,
 * made null, or the JSON refused ("out of memory writing JSON"). */
START_TEST(test_json_names_not_utf8)
{
    make_model("bad\xff");
    char want[600];
    snprintf(want, sizeof want, "%s/bad\\xff/m.safetensors", dir);
    json_t *j = run_json((const char *const[]){"info", "--json", "--model", model, NULL});
    expect_name(j, "path", want);
    json_decref(j);
    j = run_json((const char *const[]){"explain", "--json", "--lists", "5", "--model", model, NULL});
    expect_name(j, "model", want);
    json_decref(j);
    j = run_json((const char *const[]){"compare", "--json", "--lists", "5", "--eval-lists", "5", model, NULL});
    expect_name(json_array_get(j, 0), "model", want);
    json_decref(j);
    cli_rmtree(dir);
}
END_TEST

/* No terminal control, newline inside a line or lone C1 byte in s. */
static void expect_no_controls(const char *what, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        bool c1 = p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f;
        ck_assert_msg(!c1 && *p != 0x1b && *p != 0x9b && *p != '\a' && *p != '\r', "%s: raw control at %ld in '%s'",
                      what, (long)(p - (const unsigned char *)s), s);
    }
}

/* Runs args; both outputs free of controls; stdout or stderr (where) holds
 * needle, the hostile name as sl_text_escape writes it. */
static void expect_escaped(const char *const args[], int status, bool on_stderr, const char *needle)
{
    CliRun r;
    cli_run(&r, NULL, args);
    ck_assert_msg(r.status == status, "%s: exit %d: %s", args[0], r.status, r.err);
    expect_no_controls(args[0], r.out);
    expect_no_controls(args[0], r.err);
    const char *where = on_stderr ? r.err : r.out;
    ck_assert_msg(strstr(where, needle), "%s: '%s' not in '%.400s'", args[0], needle, where);
    cli_run_free(&r);
}

/* Text outputs and messages: a name from outside is written through
 * sl_text_escape (\u009b, \x1b, \n), so it neither drives the terminal
 * nor forges a line. */
START_TEST(test_text_outputs_escape_names)
{
    make_model(hostile_dir);
    const char *esc = "h\\u009b\\x1b[2J\\nx/m.safetensors";
    expect_escaped((const char *const[]){"explain", "--lists", "5", "--model", model, NULL}, 0, false, esc);
    expect_escaped((const char *const[]){"compare", "--lists", "5", "--eval-lists", "5", model, NULL}, 0, false,
                   "h\\u009b\\x1b[2J\\nx");
    char lists[600];
    snprintf(lists, sizeof lists, "%s/lists\x1b[2J", dir);
    FILE *f = fopen(lists, "w");
    ck_assert_ptr_nonnull(f);
    fputs("1 2\n0 3\n", f);
    fclose(f);
    expect_escaped((const char *const[]){"eval", "--input", lists, "--model", model, NULL}, 0, false,
                   "lists\\x1b[2J");
    expect_escaped((const char *const[]){"mean", "--input", lists, "--model", model, NULL}, 0, false,
                   "lists\\x1b[2J");
    /* a model that is not there, an option and an argument that are not known */
    char missing[600];
    snprintf(missing, sizeof missing, "%s/no\xc2\x9b" "2J", dir);
    expect_escaped((const char *const[]){"explain", "--model", missing, NULL}, 1, true, "no\\u009b2J");
    expect_escaped((const char *const[]){"eval", "--x\x1b[2J", NULL}, 2, true, "--x\\x1b[2J");
    expect_escaped((const char *const[]){"info", "a\xc2\x9b" "2J", NULL}, 2, true, "a\\u009b2J");
    expect_escaped((const char *const[]){"train", "--lr", "1\x1b[2J", "--out", "/nonexistent/x", NULL}, 2, true,
                   "1\\x1b[2J");
    cli_rmtree(dir);
}
END_TEST

/* ---- info on hostile files ----------------------------------------------------- */

/* `info` on a file whose metadata and tensor names carry escape sequences
 * and newlines: the text output holds none of them raw, no line is forged,
 * and --json keeps the exact strings, escaped as JSON does. */
START_TEST(test_info_escapes_file_strings)
{
    const char *tmp = cli_tempdir();
    SlTensorSet *ts = test_tiny_model_tensors();
    SlError err = {0};
    const char *title = "hi\x1b]0;PWNED\a\x1b[2J";
    const char *forged = "x\nformat:      pytorch (forged line)";
    ck_assert_int_eq(sl_tensorset_set_meta(ts, "note", title, &err), 0);
    ck_assert_int_eq(sl_tensorset_set_meta(ts, "csi\xc2\x9b" "31m", forged, &err), 0);
    const char *path = cli_path(tmp, "hostile.safetensors");
    ck_assert_msg(sl_safetensors_write(path, ts, &err) == 0, "%s", err.message);
    sl_tensorset_free(ts);

    CliRun r;
    const char *text[] = {"info", "--model", path, NULL};
    cli_run(&r, NULL, text);
    const char *out = r.out;
    ck_assert_int_eq(r.status, 0);
    ck_assert_msg(!test_has_terminal_controls(out), "raw control bytes in info's output:\n%s", out);
    ck_assert_msg(!strstr(out, "\nformat:      pytorch"), "a forged line in info's output:\n%s", out);
    ck_assert_ptr_nonnull(strstr(out, "\n  note: hi\\x1b]0;PWNED\\x07\\x1b[2J\n"));
    ck_assert_ptr_nonnull(strstr(out, "\n  csi\\u009b31m: x\\nformat:      pytorch (forged line)\n"));
    cli_run_free(&r);

    const char *json[] = {"info", "--json", "--model", path, NULL};
    cli_run(&r, NULL, json);
    out = r.out;
    ck_assert_int_eq(r.status, 0);
    ck_assert_msg(!test_has_terminal_controls(out), "raw control bytes (ESC, BEL, C1 CSI) in info --json:\n%s", out);
    ck_assert_msg(strstr(out, "csi\\u009B31m"), "U+009B not escaped as \\u009B in info --json:\n%s", out);
    json_error_t jerr;
    json_t *root = json_loads(out, 0, &jerr);
    ck_assert_msg(root != NULL, "info --json is not JSON: %s", jerr.text);
    json_t *meta = json_object_get(root, "metadata");
    ck_assert_str_eq(json_string_value(json_object_get(meta, "note")), title);
    ck_assert_str_eq(json_string_value(json_object_get(meta, "csi\xc2\x9b" "31m")), forged);
    json_decref(root);
    cli_run_free(&r);
    cli_rmtree(tmp);
}
END_TEST

/* A tensor name with a C1 CSI (U+009B) and an ESC sequence, refused by the
 * model check (tests/core/test_hostile.c checks the core's message): what
 * info prints to stderr holds neither raw. */
START_TEST(test_info_message_escapes_names)
{
    SlTensorSet *ts = test_tiny_model_tensors();
    SlError err = {0};
    const char *name = "blocks.0.attn.\xc2\x9b" "2J\x1b[31mW_X";
    ck_assert_ptr_nonnull(sl_tensorset_add(ts, name, SL_DT_F32, 1, (const int64_t[]){1}, NULL, &err));
    const char *tmp = cli_tempdir();
    const char *path = cli_path(tmp, "bad.safetensors");
    ck_assert_msg(sl_safetensors_write(path, ts, &err) == 0, "%s", err.message);
    CliRun r;
    const char *args[] = {"info", "--model", path, NULL};
    cli_run(&r, NULL, args);
    ck_assert_int_eq(r.status, 1);
    ck_assert_msg(!test_has_terminal_controls(r.out) && !test_has_terminal_controls(r.err), "raw controls on stderr: %s",
                  r.err);
    ck_assert_ptr_nonnull(strstr(r.err, "\\u009b2J\\x1b[31m"));
    cli_run_free(&r);
    cli_rmtree(tmp);
    sl_tensorset_free(ts);
}
END_TEST

/* A FIFO with no writer as --model: info refuses it at once, saying what it
 * is (a blocking open would hang until the suite's timeout; the core's
 * readers are checked in tests/core/test_hostile.c). */
START_TEST(test_info_refuses_fifo)
{
    const char *tmp = cli_tempdir();
    const char *fifo = cli_path(tmp, "model.fifo");
    ck_assert_int_eq(mkfifo(fifo, 0600), 0);
    CliRun r;
    const char *args[] = {"info", "--model", fifo, NULL};
    cli_run(&r, NULL, args);
    ck_assert_int_eq(r.status, 1);
    ck_assert_msg(strstr(r.err, "is a FIFO"), "info on a FIFO said: %s", r.err);
    cli_run_free(&r);
    cli_rmtree(tmp);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("cli-hostile");
    TCase *tc = tcase_create("json");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_json_outputs_are_ascii);
    tcase_add_test(tc, test_json_names_not_utf8);
    tcase_add_test(tc, test_text_outputs_escape_names);
    tcase_add_test(tc, test_info_escapes_file_strings);
    tcase_add_test(tc, test_info_message_escapes_names);
    tcase_add_test(tc, test_info_refuses_fifo);
    suite_add_tcase(s, tc);
    return s;
}

int main(int argc, char **argv) { return cli_main(argc, argv, suite); }
