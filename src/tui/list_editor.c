/* list_editor.c: the list editor's keys: the typed text, its cursor, and
 * why a character is refused (see list_editor.h). */
#include "list_editor.h"

#include <stdio.h>
#include <string.h>

/* The editor opens on the current list, ready to change (never on a bare
 * digit: 1-4 switch the QK terms). */
void list_editor_begin(App *a)
{
    a->editing = true;
    a->edit_err[0] = '\0';
    explorer_list_text(a->ex, a->edit, sizeof a->edit);
    a->edit_len = (int)strlen(a->edit);
    a->edit_cur = a->edit_len;
}

static bool edit_allowed(int key) { return (key >= '0' && key <= '9') || key == ' ' || key == ',' || key == '[' || key == ']'; }

static void edit_refuse(App *a, int key)
{
    int n = explorer_scene(a->ex)->Vo - 1;
    if (key >= 0x21 && key < 0x7f)
        snprintf(a->edit_err, sizeof a->edit_err, "'%c' is not allowed (Backspace takes it out): type values 0..%d separated by spaces or commas", key, n);
    else if (key == 0xfffd)
        snprintf(a->edit_err, sizeof a->edit_err, "invalid UTF-8 is not allowed (shown as ?): type values 0..%d separated by spaces or commas", n);
    else if (key < AK_BASE)
        snprintf(a->edit_err, sizeof a->edit_err, "U+%04X is not allowed (shown as ?): type values 0..%d separated by spaces or commas", (unsigned)key, n);
    else
        snprintf(a->edit_err, sizeof a->edit_err, "that key does not edit: Enter applies, Esc cancels");
}

bool list_editor_key(App *a, int key)
{
    if (key == AK_ESC) {
        a->editing = false;
        a->edit_err[0] = '\0';
        return true;
    }
    if (key == AK_ENTER || key == '\n' || key == '\r') {
        SlError err = {0};
        if (explorer_set_list_text(a->ex, a->edit, &err) < 0) {
            snprintf(a->edit_err, sizeof a->edit_err, "%s", err.message);
            return true;
        }
        explorer_set_message(a->ex, false, NULL);
        a->editing = false;
        a->edit_err[0] = '\0';
        a->strip_first = -1;
        return true;
    }
    switch (key) {
    case AK_BACKSPACE:
    case 8:
    case 127:
        if (a->edit_cur > 0) {
            memmove(a->edit + a->edit_cur - 1, a->edit + a->edit_cur, (size_t)(a->edit_len - a->edit_cur + 1));
            a->edit_cur--;
            a->edit_len--;
        }
        a->edit_err[0] = '\0';
        return true;
    case AK_DELETE:
    case 4:   /* Ctrl-D */
        if (a->edit_cur < a->edit_len) {
            memmove(a->edit + a->edit_cur, a->edit + a->edit_cur + 1, (size_t)(a->edit_len - a->edit_cur));
            a->edit_len--;
        }
        a->edit_err[0] = '\0';
        return true;
    case AK_LEFT:
        if (a->edit_cur > 0)
            a->edit_cur--;
        return true;
    case AK_RIGHT:
        if (a->edit_cur < a->edit_len)
            a->edit_cur++;
        return true;
    case AK_HOME:
    case 1:   /* Ctrl-A */
        a->edit_cur = 0;
        return true;
    case AK_END:
    case 5:   /* Ctrl-E */
        a->edit_cur = a->edit_len;
        return true;
    case 21:   /* Ctrl-U: clear */
        a->edit_len = a->edit_cur = 0;
        a->edit[0] = '\0';
        a->edit_err[0] = '\0';
        return true;
    case AK_RESIZE:
    case AK_REDRAW:
        return true;
    case '\t':
    case AK_TAB:
        key = ' ';   /* a pasted tab separates values like a space */
        break;
    }
    if (key >= AK_BASE) {   /* a key that is no character */
        edit_refuse(a, key);
        return true;
    }
    if (a->edit_len >= APP_EDIT_MAX) {
        snprintf(a->edit_err, sizeof a->edit_err, "the list is too long (at most %d characters); Ctrl-U clears it", APP_EDIT_MAX);
        return true;
    }
    /* A character that cannot be part of a list is refused in place, but
     * stays in the text ('?' for one that is not printable ASCII): dropping
     * it would turn "1.5" into 15 or "-1" into 1, so Enter refuses the
     * list whole, through the one list parser, until it is taken out. */
    bool allowed = edit_allowed(key);
    memmove(a->edit + a->edit_cur + 1, a->edit + a->edit_cur, (size_t)(a->edit_len - a->edit_cur + 1));
    a->edit[a->edit_cur++] = key >= 0x20 && key < 0x7f ? (char)key : '?';
    a->edit_len++;
    if (allowed)
        a->edit_err[0] = '\0';
    else
        edit_refuse(a, key);
    return true;
}
