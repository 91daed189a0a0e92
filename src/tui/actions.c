/* actions.c: the table of actions (actions.h) and key lookup. */
#include "actions.h"

#include <stdio.h>

#include "app.h"

#define ACTION_ROW(id, hk, lk, lka, label, rank, help, ...)                                                      \
    [ACT_##id] = {ACT_##id, hk, lk, lka, label, rank, help, {__VA_ARGS__},                                     \
                  (int)(sizeof((ActionBinding[]){__VA_ARGS__}) / sizeof(ActionBinding))},
const Action app_actions[ACT_COUNT] = {APP_ACTIONS(ACTION_ROW)};
#undef ACTION_ROW

const Action *action_for_key(int key, int *arg)
{
    for (int a = 0; a < ACT_COUNT; a++)
        for (int b = 0; b < app_actions[a].n_bindings; b++)
            if (app_actions[a].bindings[b].key == key) {
                if (arg)
                    *arg = app_actions[a].bindings[b].arg;
                return &app_actions[a];
            }
    return NULL;
}

void action_key_name(int key, char *buf, size_t size)
{
    static const struct {
        int key;
        const char *name;
    } names[] = {
        {AK_LEFT, "Left"}, {AK_RIGHT, "Right"}, {AK_UP, "Up"}, {AK_DOWN, "Down"}, {AK_HOME, "Home"},
        {AK_END, "End"}, {AK_PGUP, "PageUp"}, {AK_PGDN, "PageDown"}, {AK_ENTER, "Enter"},
        {AK_BACKSPACE, "Backspace"}, {AK_DELETE, "Delete"}, {AK_TAB, "Tab"}, {AK_BTAB, "Shift-Tab"},
        {AK_ESC, "Esc"}, {AK_REDRAW, "Ctrl-L"},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (names[i].key == key) {
            snprintf(buf, size, "%s", names[i].name);
            return;
        }
    if (key > 0x20 && key < 0x7f)
        snprintf(buf, size, "%c", key);
    else
        snprintf(buf, size, "U+%04X", (unsigned)key);
}
