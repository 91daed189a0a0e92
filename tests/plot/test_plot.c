/* test_plot.c: the figures of `sortlens plot`: PNG, PDF and SVG files that
 * open (signatures, sizes, an SVG that Python's XML parser reads with one
 * titled cell per matrix entry), the attention figure's values against
 * PyTorch's pattern (check_svg.py), names, positions and errors. */
#include <check.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <dirent.h>

#include "plot.h"
#include "sortlens/checkpoint.h"
#include "test_util.h"

static char tmpdir[64];
static SlModel *bundled;
static const char *exe_path;   /* build/sortlens, from meson (argv[1]) */

static void setup(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/sortlens-plot-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
    char path[PATH_MAX];
    const char *src = getenv("SORTLENS_SOURCE");
    snprintf(path, sizeof path, "%s/data/sortlens-default.safetensors", src ? src : ".");
    SlError err = {0};
    bundled = sl_ckpt_load(path, &err);
    ck_assert_msg(bundled != NULL, "%s", err.message);
}

static void teardown(void)
{
    sl_model_free(bundled);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    ck_assert_int_eq(system(cmd), 0);
}

static bool have_python(void)
{
    return access("/usr/bin/python3", X_OK) == 0;
}

static const char *script(void)
{
    static char path[PATH_MAX];
    const char *src = getenv("SORTLENS_SOURCE");
    snprintf(path, sizeof path, "%s/tests/plot/check_svg.py", src ? src : ".");
    return path;
}

static unsigned char *render(SlPlotView view, SlPlotFormat format, size_t *size)
{
    SlPlotRequest r;
    sl_plot_request_init(&r, view);
    unsigned char *data = NULL;
    SlError err = {0};
    ck_assert_msg(sl_plot_render(bundled, &r, format, &data, size, &err) == 0, "%s: %s", sl_plot_view_name(view),
                  err.message);
    return data;
}

/* width="W" height="H" of the <svg> element. */
static void svg_size(const unsigned char *svg, size_t size, int *w, int *h)
{
    char *copy = strndup((const char *)svg, size);
    const char *s = strstr(copy, "<svg ");
    ck_assert_ptr_nonnull(s);
    const char *ws = strstr(s, " width=\""), *hs = strstr(s, " height=\"");
    ck_assert(ws && hs);
    *w = atoi(ws + 8);
    *h = atoi(hs + 9);
    free(copy);
}

static unsigned be32(const unsigned char *p)
{
    return (unsigned)p[0] << 24 | (unsigned)p[1] << 16 | (unsigned)p[2] << 8 | p[3];
}

START_TEST(test_png_signature_and_size)
{
    /* PNG: the 8-byte signature, then IHDR with the size, which is the SVG's
     * (the same layout) at FIG_PNG_SCALE pixels per point. */
    static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    SlPlotView views[] = {SL_PLOT_ATTENTION, SL_PLOT_QK_COMBINED, SL_PLOT_DECOMPOSITION};
    for (size_t i = 0; i < sizeof views / sizeof views[0]; i++) {
        size_t n, ns;
        unsigned char *png = render(views[i], SL_PLOT_PNG, &n);
        unsigned char *svg = render(views[i], SL_PLOT_SVG, &ns);
        ck_assert_uint_gt(n, 33);
        ck_assert_mem_eq(png, sig, 8);
        ck_assert_mem_eq(png + 12, "IHDR", 4);
        int w, h;
        svg_size(svg, ns, &w, &h);
        ck_assert_int_gt(w, 200);
        ck_assert_int_gt(h, 100);
        ck_assert_uint_eq(be32(png + 16), 2u * (unsigned)w);
        ck_assert_uint_eq(be32(png + 20), 2u * (unsigned)h);
        ck_assert_mem_eq(png + n - 8, "IEND", 4);   /* the last chunk: the file is whole */
        free(png);
        free(svg);
    }
}
END_TEST

START_TEST(test_pdf_header)
{
    size_t n;
    unsigned char *pdf = render(SL_PLOT_QK_FACET, SL_PLOT_PDF, &n);
    ck_assert_uint_gt(n, 1000);
    ck_assert_mem_eq(pdf, "%PDF-1.", 7);
    /* the trailer's end-of-file marker, within the last bytes */
    char tail[33] = {0};
    memcpy(tail, pdf + n - 32, 32);
    for (int i = 0; i < 32; i++)
        if (!tail[i])
            tail[i] = ' ';
    ck_assert_ptr_nonnull(strstr(tail, "%%EOF"));
    free(pdf);
}
END_TEST

/* Every view's SVG parses, and its matrix group holds one titled cell per
 * entry of the matrix it shows. */
START_TEST(test_svg_every_view_parses)
{
    if (!have_python()) {
        printf("SKIP test_svg_every_view_parses: /usr/bin/python3 is absent\n");
        return;
    }
    const SlModelConfig *c = &bundled->cfg;
    int V = c->d_vocab, T = c->n_ctx, Vo = c->d_vocab_out, mid = c->list_len + 1;
    struct {
        SlPlotView view;
        const char *group;
        int cells;
    } cases[] = {
        {SL_PLOT_ATTENTION, "attention", T * T},
        {SL_PLOT_SCORES, "scores", T * T},
        {SL_PLOT_QK_TOKEN_TOKEN, "qk-token-token", V * V},
        {SL_PLOT_QK_TOKEN_POS, "qk-token-pos", V * T},
        {SL_PLOT_QK_POS_TOKEN, "qk-pos-token", T * V},
        {SL_PLOT_QK_POS_POS, "qk-pos-pos", T * T},
        {SL_PLOT_QK_FACET, "qk-pos-pos", T * T},
        {SL_PLOT_QK_FACET, "qk-token-pos", V * T},
        {SL_PLOT_QK_COMBINED, "qk-combined", (V + T) * (V + T)},
        {SL_PLOT_OV, "ov", V * Vo},
        {SL_PLOT_OV_POS, "ov-pos", T * Vo},
        {SL_PLOT_DECOMPOSITION, "decomposition", 5 * (mid + 1)},   /* four terms and the sum, keys 0..MID */
        {SL_PLOT_MEAN_ATTENTION, "mean-attention", T * T},
        {SL_PLOT_PATCH, "patch", (9 + 4) * T},   /* 9 hooks of a 1-layer 1-head model, 4 score terms */
    };
    int corrupt[10] = {42, 17, 27, 3, 49, 0, 26, 8, 31, 12};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char path[PATH_MAX], cmd[PATH_MAX * 3];
        snprintf(path, sizeof path, "%s/%s.svg", tmpdir, sl_plot_view_name(cases[i].view));
        SlError err = {0};
        SlPlotRequest r;
        sl_plot_request_init(&r, cases[i].view);
        r.corrupt = corrupt;
        r.lists = 50;
        ck_assert_msg(sl_plot_write(bundled, &r, SL_PLOT_SVG, path, &err) == 0, "%s", err.message);
        snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s' cells '%s' '%s' %d", script(), path, cases[i].group,
                 cases[i].cells);
        ck_assert_msg(system(cmd) == 0, "%s", cmd);
    }
}
END_TEST

/* The check: the <title> values of the attention figure of the
 * published model equal PyTorch's pattern to 1e-6 (and the combined QK
 * figure PyTorch's four circuits), read back by Python from the SVG that
 * `sortlens plot` wrote. */
START_TEST(test_svg_values_match_pytorch)
{
    const char *model = shared_path("seed-model/sort_fixed_len_list_model.pt");
    const char *ref = shared_path("reference/reference.safetensors");
    const char *exe = exe_path;
    if (!model || !ref || !exe || !have_python()) {
        printf("SKIP test_svg_values_match_pytorch: %s is absent\n",
               !model || !ref ? "../shared" : !exe ? "build/sortlens" : "/usr/bin/python3");
        return;
    }
    char cmd[PATH_MAX * 4];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s' pytorch '%s' '%s' '%s' '%s'", script(), exe, model, ref, tmpdir);
    ck_assert_msg(system(cmd) == 0, "%s", cmd);
}
END_TEST

/* The check of every view for the published model: each view the
 * explorer draws (progress, of a run, is tests/plot/check_progress.py's) in
 * each format is a file that opens: PNG signature, IHDR and IEND; PDF
 * header and end-of-file marker; SVG that Python's XML parser reads, with
 * titled cells. */
START_TEST(test_published_every_view_opens)
{
    const char *model = shared_path("seed-model/sort_fixed_len_list_model.pt");
    if (!model || !have_python()) {
        printf("SKIP test_published_every_view_opens: %s is absent\n", !model ? "../shared" : "/usr/bin/python3");
        return;
    }
    SlError err = {0};
    SlModel *m = sl_ckpt_load(model, &err);
    ck_assert_msg(m != NULL, "%s", err.message);
    static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    int corrupt[10] = {42, 17, 27, 3, 49, 0, 26, 8, 31, 12};
    char svgs[PATH_MAX * 2] = "";
    for (int v = 0; v < SL_PLOT_VIEW_COUNT; v++) {
        if (v == SL_PLOT_PROGRESS)
            continue;
        SlPlotRequest r;
        sl_plot_request_init(&r, (SlPlotView)v);
        r.corrupt = corrupt;
        r.lists = 50;
        r.model_label = "sort_fixed_len_list_model.pt";
        const char *name = sl_plot_view_name((SlPlotView)v);
        unsigned char *data = NULL;
        size_t n = 0;
        ck_assert_msg(sl_plot_render(m, &r, SL_PLOT_PNG, &data, &n, &err) == 0, "%s png: %s", name, err.message);
        ck_assert_msg(n > 33 && memcmp(data, sig, 8) == 0 && memcmp(data + 12, "IHDR", 4) == 0, "%s: not a PNG", name);
        ck_assert_msg(be32(data + 16) > 200 && be32(data + 20) > 100, "%s: a PNG of %ux%u", name, be32(data + 16),
                      be32(data + 20));
        ck_assert_msg(memcmp(data + n - 8, "IEND", 4) == 0, "%s: the PNG is cut", name);
        free(data);
        ck_assert_msg(sl_plot_render(m, &r, SL_PLOT_PDF, &data, &n, &err) == 0, "%s pdf: %s", name, err.message);
        ck_assert_msg(n > 1000 && memcmp(data, "%PDF-1.", 7) == 0, "%s: not a PDF", name);
        char tail[33] = {0};
        memcpy(tail, data + n - 32, 32);
        for (int i = 0; i < 32; i++)
            tail[i] = tail[i] ? tail[i] : ' ';
        ck_assert_msg(strstr(tail, "%%EOF"), "%s: the PDF has no end-of-file marker", name);
        free(data);
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/published-%s.svg", tmpdir, name);
        ck_assert_msg(sl_plot_write(m, &r, SL_PLOT_SVG, path, &err) == 0, "%s svg: %s", name, err.message);
        size_t len = strlen(svgs);
        snprintf(svgs + len, sizeof svgs - len, " '%s'", path);
    }
    sl_model_free(m);
    char cmd[PATH_MAX * 3];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s' parses%s", script(), svgs);
    ck_assert_msg(system(cmd) == 0, "%s", cmd);
}
END_TEST

START_TEST(test_names_and_positions)
{
    SlError err = {0};
    SlPlotView v;
    for (int i = 0; i < SL_PLOT_VIEW_COUNT; i++) {
        ck_assert_int_eq(sl_plot_view_from_name(sl_plot_view_name((SlPlotView)i), &v, &err), 0);
        ck_assert_int_eq(v, i);
    }
    ck_assert_int_eq(sl_plot_view_from_name("heatmap", &v, &err), SL_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.message, "unknown view 'heatmap'; the views are attention, scores"));
    SlPlotFormat f;
    ck_assert(sl_plot_format_from_path("fig.PNG", &f) && f == SL_PLOT_PNG);
    ck_assert(sl_plot_format_from_path("a.b/fig.pdf", &f) && f == SL_PLOT_PDF);
    ck_assert(!sl_plot_format_from_path("fig.svg/x", &f));
    ck_assert(!sl_plot_format_from_path("fig", &f));
    ck_assert_int_eq(sl_plot_format_from_name("eps", &f, &err), SL_EINVAL);

    const SlModelConfig *c = &bundled->cfg;   /* n = 10: MID is 11, b1 12 */
    struct {
        const char *text;
        int pos;
    } ok[] = {{"BOS", 0}, {"a1", 1}, {"a10", 10}, {"MID", 11}, {"mid", 11}, {"b1", 12}, {"b10", 21}, {"0", 0}, {"21", 21}};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        int pos = -1;
        ck_assert_msg(sl_plot_parse_position(c, ok[i].text, &pos, &err) == 0, "%s: %s", ok[i].text, err.message);
        ck_assert_int_eq(pos, ok[i].pos);
    }
    /* through the one integer parser: no spaces, no sign, no wrap-around */
    const char *bad[] = {"",   "a0", "a11", "b11", "22",  "-1",  "c3",  "b", "a1x",
                         "1e1", " 5", "5 ",  "a 5", "b+1", "0x5", "b99999999999999999999", "99999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int pos = -1;
        ck_assert_int_eq(sl_plot_parse_position(c, bad[i], &pos, &err), SL_EINVAL);
        ck_assert_ptr_nonnull(strstr(err.message, "is not a position: use BOS, a1..a10, MID, b1..b10 or 0..21"));
        ck_assert_int_eq(pos, -1);
    }
}
END_TEST

static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

START_TEST(test_write_errors)
{
    SlError err = {0};
    char path[PATH_MAX];
    /* a folder that does not exist */
    snprintf(path, sizeof path, "%s/no/such/dir/fig.svg", tmpdir);
    ck_assert_int_eq(sl_plot_view(bundled, SL_PLOT_OV, NULL, -1, SL_PLOT_SVG, path, &err), SL_EIO);
    ck_assert_ptr_nonnull(strstr(err.message, "fig.svg: cannot create a file in"));
    /* a request the model cannot satisfy leaves the old file as it was */
    snprintf(path, sizeof path, "%s/keep.svg", tmpdir);
    FILE *f = fopen(path, "w");
    fputs("old", f);
    fclose(f);
    SlPlotRequest r;
    sl_plot_request_init(&r, SL_PLOT_ATTENTION);
    r.head = 3;
    ck_assert_int_eq(sl_plot_write(bundled, &r, SL_PLOT_SVG, path, &err), SL_EINVAL);
    ck_assert_str_eq(err.message, "head 3 is out of range (the model has 1)");
    r.head = 0;
    r.layer = 0;
    int bad_list[10] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 50};
    r.list = bad_list;
    ck_assert_int_eq(sl_plot_write(bundled, &r, SL_PLOT_SVG, path, &err), SL_EINVAL);
    ck_assert_str_eq(err.message, "list value 50 is outside 0..49");
    r.list = NULL;
    r.view = SL_PLOT_PATCH;
    ck_assert_int_eq(sl_plot_write(bundled, &r, SL_PLOT_SVG, path, &err), SL_EINVAL);
    ck_assert_str_eq(err.message, "the patch view needs a corrupted list (--corrupt)");
    r.view = SL_PLOT_ATTENTION;
    char buf[8] = {0};
    f = fopen(path, "r");
    ck_assert_uint_eq(fread(buf, 1, sizeof buf - 1, f), 3);
    fclose(f);
    ck_assert_str_eq(buf, "old");
    /* a good one replaces it, leaving no temporary file behind */
    r.list = NULL;
    ck_assert_int_eq(sl_plot_write(bundled, &r, SL_PLOT_PNG, path, &err), 0);
    ck_assert_int_eq(count_entries(tmpdir), 1);
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_int_gt(st.st_size, 1000);
}
END_TEST

START_TEST(test_cli)
{
    const char *exe = exe_path;
    if (!exe) {
        printf("SKIP test_cli: build/sortlens is absent\n");
        return;
    }
    char cmd[PATH_MAX * 2], path[PATH_MAX];
    snprintf(path, sizeof path, "%s/cli.pdf", tmpdir);
    snprintf(cmd, sizeof cmd, "'%s' plot qk-pos-pos --out '%s' 2>/dev/null", exe, path);
    ck_assert_int_eq(system(cmd), 0);
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    char head[8] = {0};
    ck_assert_uint_eq(fread(head, 1, 5, f), 5);
    fclose(f);
    ck_assert_str_eq(head, "%PDF-");   /* the format follows the extension */
    /* an existing file needs --force; a bad view, --at or --format is bad usage (2) */
    snprintf(cmd, sizeof cmd, "'%s' plot ov --out '%s' 2>%s/err.txt", exe, path, tmpdir);
    ck_assert_int_eq(WEXITSTATUS(system(cmd)), 2);
    snprintf(cmd, sizeof cmd, "grep -q 'cli.pdf: already exists; pass --force to overwrite it' %s/err.txt", tmpdir);
    ck_assert_int_eq(system(cmd), 0);
    snprintf(cmd, sizeof cmd, "'%s' plot ov --force --out '%s' 2>/dev/null", exe, path);
    ck_assert_int_eq(system(cmd), 0);
    const char *usage[] = {"plot nope --out x.svg", "plot attention --at b11 --out x.svg",
                           "plot attention --format gif --out x.svg", "plot attention", "plot attention --list '1 2' --out x.svg"};
    for (size_t i = 0; i < sizeof usage / sizeof usage[0]; i++) {
        snprintf(cmd, sizeof cmd, "cd '%s' && '%s' %s 2>/dev/null", tmpdir, exe, usage[i]);
        ck_assert_msg(WEXITSTATUS(system(cmd)) == 2, "%s", usage[i]);
    }
    snprintf(cmd, sizeof cmd, "'%s' plot attention --out - | head -c 5 | grep -q '<?xml'", exe);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

static Suite *plot_suite(void)
{
    Suite *s = suite_create("plot");
    TCase *tc = tcase_create("files");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_png_signature_and_size);
    tcase_add_test(tc, test_pdf_header);
    tcase_add_test(tc, test_svg_every_view_parses);
    tcase_add_test(tc, test_svg_values_match_pytorch);
    tcase_add_test(tc, test_published_every_view_opens);
    tcase_add_test(tc, test_names_and_positions);
    tcase_add_test(tc, test_write_errors);
    tcase_add_test(tc, test_cli);
    suite_add_tcase(s, tc);
    return s;
}

int main(int argc, char **argv)
{
    /* absolute: the CLI test runs it from the temporary folder */
    static char exe[PATH_MAX];
    exe_path = argc > 1 && realpath(argv[1], exe) && access(exe, X_OK) == 0 ? exe : NULL;
    return run_suite(plot_suite());
}
