/* test_actions.c: the action table (src/tui/actions.h) drives the keys;
 * the usage text of `sortlens tui --help` and the Keys section of the man
 * page are written by hand, so this holds both to the table: every action
 * has one entry naming exactly the keys bound to it, and neither names a
 * key that does nothing.
 *
 * usage: test-actions SORTLENS_EXECUTABLE MAN_PAGE */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actions.h"
#include "app.h"
#include "test_util.h"

static const char *exe_path, *man_path;

#define MAX_KEYS 8
typedef struct KeySet {
    char keys[MAX_KEYS][16];
    int n;
} KeySet;

static bool set_has(const KeySet *s, const char *k)
{
    for (int i = 0; i < s->n; i++)
        if (strcmp(s->keys[i], k) == 0)
            return true;
    return false;
}

static void set_add(KeySet *s, const char *k)
{
    ck_assert_int_lt(s->n, MAX_KEYS);
    snprintf(s->keys[s->n++], sizeof s->keys[0], "%s", k);
}

static bool set_equal(const KeySet *a, const KeySet *b)
{
    if (a->n != b->n)
        return false;
    for (int i = 0; i < a->n; i++)
        if (!set_has(b, a->keys[i]))
            return false;
    return true;
}

/* The names of the keys bound to an action, as the docs spell them. */
static KeySet bound_keys(const Action *a)
{
    KeySet s = {0};
    for (int b = 0; b < a->n_bindings; b++) {
        char name[16];
        action_key_name(a->bindings[b].key, name, sizeof name);
        set_add(&s, name);
    }
    return s;
}

/* Every entry found matches one action; every action with keys is found
 * exactly once. */
static void check_entries(const char *where, const KeySet *found, int n_found)
{
    int seen[ACT_COUNT] = {0};
    for (int f = 0; f < n_found; f++) {
        int match = -1;
        for (int a = 0; a < ACT_COUNT; a++) {
            KeySet want = bound_keys(&app_actions[a]);
            if (set_equal(&want, &found[f]))
                match = a;
        }
        ck_assert_msg(match >= 0, "%s: an entry names keys %s%s%s... that no action has", where, found[f].keys[0],
                      found[f].n > 1 ? " " : "", found[f].n > 1 ? found[f].keys[1] : "");
        seen[match]++;
    }
    for (int a = 0; a < ACT_COUNT; a++)
        ck_assert_msg(seen[a] == 1, "%s: action %d (%s) is described %d times, not once", where, a,
                      app_actions[a].help, seen[a]);
}

START_TEST(test_table_is_consistent)
{
    /* no key is bound twice, every action has a key and a help line */
    for (int a = 0; a < ACT_COUNT; a++) {
        ck_assert_int_eq((int)app_actions[a].id, a);
        ck_assert_int_ge(app_actions[a].n_bindings, 1);
        ck_assert_ptr_nonnull(app_actions[a].help);
        for (int b = 0; b < app_actions[a].n_bindings; b++) {
            int arg = 0;
            const Action *got = action_for_key(app_actions[a].bindings[b].key, &arg);
            ck_assert_ptr_eq(got, &app_actions[a]);
            ck_assert_int_eq(arg, app_actions[a].bindings[b].arg);
        }
    }
    /* digits 0 and 5-9 are not keys (1-4 switch the QK terms; e opens the editor) */
    ck_assert_ptr_null(action_for_key('0', NULL));
    ck_assert_ptr_null(action_for_key('7', NULL));
    ck_assert_int_eq(action_for_key('e', NULL)->id, ACT_EDIT);
    ck_assert_int_eq(action_for_key(AK_ENTER, NULL)->id, ACT_EDIT);
}
END_TEST

START_TEST(test_usage_matches_table)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "'%s' tui --help", exe_path);
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    char line[512];
    bool in_keys = false;
    KeySet found[64];
    int n = 0;
    while (fgets(line, sizeof line, p)) {
        if (strncmp(line, "Keys", 4) == 0) {
            in_keys = true;
            continue;
        }
        if (!in_keys || strncmp(line, "  ", 2) != 0)
            continue;
        /* "  KEY KEY ...   text": keys up to the first run of two spaces */
        char *end = strstr(line + 2, "  ");
        ck_assert_ptr_nonnull(end);
        *end = '\0';
        KeySet s = {0};
        for (char *tok = strtok(line + 2, " "); tok; tok = strtok(NULL, " "))
            set_add(&s, tok);
        ck_assert_int_lt(n, 64);
        found[n++] = s;
    }
    ck_assert_int_eq(pclose(p), 0);
    ck_assert_int_gt(n, 0);
    check_entries("sortlens tui --help", found, n);
}
END_TEST

/* A roff tag line (".BR Left \", \" Right", ".B q") as key names. */
static KeySet roff_keys(const char *tag)
{
    KeySet s = {0};
    char buf[512], clean[512];
    snprintf(buf, sizeof buf, "%s", tag);
    size_t j = 0;
    for (size_t i = 0; buf[i] && j + 1 < sizeof clean; i++) {
        if (buf[i] == '\\' && buf[i + 1] == '-') {   /* \- is a hyphen */
            clean[j++] = '-';
            i++;
        } else if (buf[i] == '"') {
            /* ", " separators: drop the quoted text */
            const char *close = strchr(buf + i + 1, '"');
            if (!close)
                break;
            clean[j++] = ' ';
            i = (size_t)(close - buf);
        } else {
            clean[j++] = buf[i];
        }
    }
    clean[j] = '\0';
    char *tok = strtok(clean, " \n");
    if (tok && (strcmp(tok, ".B") == 0 || strcmp(tok, ".BR") == 0 || strcmp(tok, ".I") == 0))
        tok = strtok(NULL, " \n");
    for (; tok; tok = strtok(NULL, " \n"))
        set_add(&s, tok);
    return s;
}

START_TEST(test_man_page_matches_table)
{
    FILE *f = fopen(man_path, "r");
    ck_assert_msg(f != NULL, "cannot open %s", man_path);
    char line[512];
    bool in_keys = false, tag_next = false;
    KeySet found[64];
    int n = 0;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, ".SS", 3) == 0 || strncmp(line, ".SH", 3) == 0) {
            if (in_keys)
                break;
            in_keys = strncmp(line, ".SS Keys", 8) == 0;
            continue;
        }
        if (!in_keys)
            continue;
        if (strncmp(line, ".TP", 3) == 0) {
            tag_next = true;
            continue;
        }
        if (tag_next) {
            ck_assert_int_lt(n, 64);
            found[n++] = roff_keys(line);
            tag_next = false;
        }
        if (strncmp(line, ".PP", 3) == 0)
            break;   /* the notes after the list */
    }
    fclose(f);
    ck_assert_int_gt(n, 0);
    check_entries("man page Keys", found, n);
}
END_TEST

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s SORTLENS_EXECUTABLE MAN_PAGE\n", argv[0]);
        return 2;
    }
    exe_path = argv[1];
    man_path = argv[2];
    Suite *s = suite_create("actions");
    TCase *tc = tcase_create("actions");
    tcase_add_test(tc, test_table_is_consistent);
    tcase_add_test(tc, test_usage_matches_table);
    tcase_add_test(tc, test_man_page_matches_table);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
