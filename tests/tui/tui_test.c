/* tui_test.c: see tui_test.h. */
#include "tui_test.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>

#include "sortlens/checkpoint.h"

SlModel *tui_test_model(void)
{
    const char *src = getenv("SORTLENS_SOURCE");
    char path[4096];
    snprintf(path, sizeof path, "%s/data/sortlens-default.safetensors", src ? src : "..");
    SlError err = {0};
    SlModel *m = sl_ckpt_load(path, &err);
    if (!m)
        printf("skipped: no bundled model (%s)\n", err.message);
    return m;
}

Explorer *tui_test_explorer(const SlModel *m, const char *label)
{
    SlError err = {0};
    Explorer *ex = explorer_new(m, label, 1, &err);
    ck_assert_msg(ex != NULL, "%s", err.message);
    ck_assert_msg(explorer_set_list_text(ex, TUI_TEST_LIST, &err) == 0, "%s", err.message);
    return ex;
}
