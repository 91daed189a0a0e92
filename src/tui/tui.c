/* tui.c: the ncurses explorer.  To be written. */
typedef int sortlens_placeholder_tui;
