/* tui_test.h: what the explorer's suites share: the bundled model and an
 * explorer on the README's list. */
#ifndef SORTLENS_TUI_TEST_H
#define SORTLENS_TUI_TEST_H

#include "explore.h"
#include "sortlens/model.h"

/* The list the README shows. */
#define TUI_TEST_LIST "42 17 26 3 49 0 26 11 8 30"

/* The bundled model (data/sortlens-default.safetensors under
 * $SORTLENS_SOURCE), or NULL after printing why the test skips. */
SlModel *tui_test_model(void);
/* An explorer of m labelled label, on TUI_TEST_LIST; checked. */
Explorer *tui_test_explorer(const SlModel *m, const char *label);

#endif
