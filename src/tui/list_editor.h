/* list_editor.h: the list editor of the explorer (`e`): a line of text
 * that Enter hands to the one list parser (explorer_set_list_text), Esc
 * drops; a character that cannot be part of a list stays, marked, with
 * the reason on the line below. */
#ifndef SORTLENS_LIST_EDITOR_H
#define SORTLENS_LIST_EDITOR_H

#include <stdbool.h>

#include "app.h"

/* Opens the editor on the current list, cursor at its end. */
void list_editor_begin(App *a);
/* One key while editing; true (the screen changes). */
bool list_editor_key(App *a, int key);

#endif
