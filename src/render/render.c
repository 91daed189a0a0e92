/* render.c: values -> grids of cells and colours, no curses.  To be written. */
typedef int sortlens_placeholder_render;
