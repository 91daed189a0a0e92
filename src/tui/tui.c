/* tui.c: ncurses.  Checks the terminal, sets it up with setlocale + newterm
 * (initscr would exit on a bad TERM), chooses the colour depth, copies the
 * grid that app.c draws to the screen, and runs the key loop: KEY_RESIZE is
 * handled in the loop, signals only set a flag.
 *
 * A little over 600 lines because it is the only file that includes
 * curses.h: whatever talks to the terminal (colours, keys, UTF-8 input,
 * Home/End sequences, a vanished terminal) stays here. */
#include "tui.h"

#include <curses.h>
#include <errno.h>
#include <langinfo.h>
#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <term.h>
#include <time.h>
#include <poll.h>
#include <unistd.h>

#include "app.h"
#include "sortlens/blas_runtime.h"
#include "bench_frames.h"
#include "explore.h"

static volatile sig_atomic_t stop_signal;

static void on_stop_signal(int sig) { stop_signal = sig; }

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

const char *tui_terminal_problem(char *buf, size_t size)
{
    if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
        snprintf(buf, size, "the explorer needs a terminal, and standard %s is not one (for scripts, use 'sortlens predict')",
                 !isatty(STDIN_FILENO) ? "input" : "output");
        return buf;
    }
    const char *term = getenv("TERM");
    if (!term || !*term) {
        snprintf(buf, size, "TERM is not set, so the explorer cannot drive this terminal; set it (e.g. TERM=xterm-256color)");
        return buf;
    }
    if (strcmp(term, "dumb") == 0) {
        snprintf(buf, size, "TERM=dumb cannot move the cursor, so the explorer cannot run here; use a full terminal "
                            "(e.g. TERM=xterm-256color), or 'sortlens predict' for plain output");
        return buf;
    }
    char safe[64];
    render_text_sanitize(term, safe, sizeof safe);
    int err = 0;
    if (setupterm((char *)term, STDOUT_FILENO, &err) != OK) {
        if (err == -1)
            snprintf(buf, size, "no terminfo database was found, so TERM=%s cannot be used", safe);
        else
            snprintf(buf, size, "TERM=%s is not a terminal type this system knows (no terminfo entry); "
                                "try TERM=xterm-256color", safe);
        return buf;
    }
    const char *cup = tigetstr("cup");
    bool hardcopy = tigetflag("hc") > 0;
    bool can_move = cup && cup != (char *)-1;
    del_curterm(cur_term);
    if (!can_move || hardcopy) {
        snprintf(buf, size, "TERM=%s cannot move the cursor, so the explorer cannot run here", safe);
        return buf;
    }
    return NULL;
}

/* With COLORTERM=truecolor|24bit and a TERM whose terminfo knows only 256
 * colours, ncurses can still send 24-bit colour through the matching
 * "-direct" entry (xterm-256color -> xterm-direct) when it is installed. */
static const char *direct_term(char *buf, size_t size)
{
    const char *ct = getenv("COLORTERM"), *term = getenv("TERM");
    if (!ct || (strcmp(ct, "truecolor") != 0 && strcmp(ct, "24bit") != 0) || !term)
        return NULL;
    if (strstr(term, "-direct"))
        return NULL;   /* already direct */
    snprintf(buf, size, "%s", term);
    char *dash = strchr(buf, '-');
    if (dash)
        *dash = '\0';
    if (strlen(buf) + 8 > size)
        return NULL;
    strcat(buf, "-direct");
    int err = 0;
    if (setupterm(buf, STDOUT_FILENO, &err) != OK)
        return NULL;
    del_curterm(cur_term);
    return buf;
}

typedef struct Tui {
    SCREEN *screen;
    Style style;
    bool no_color;
    /* (fg, bg) curses colour numbers -> pair number, open addressing */
    long long pair_keys[4096];
    int pair_vals[4096];
    int next_pair;
    bool pairs_full;
} Tui;

static int curses_color(const Tui *t, int id)
{
    if (id == COL_DEFAULT)
        return -1;
    /* roles that mean "the terminal's own text colour" */
    if (id < COL_ROLES && palette_ansi8(id) < 0 && id != COL_DIM)
        return -1;
    switch (t->style.depth) {
    case DEPTH_TRUE:
        return (int)palette_rgb(id);
    case DEPTH_256:
        return palette_xterm256(id);
    case DEPTH_8:
        return palette_ansi8(id);
    default:
        return -1;
    }
}

static int pair_for(Tui *t, int fg_id, int bg_id)
{
    if (t->style.depth == DEPTH_MONO)
        return 0;
    int fg = curses_color(t, fg_id), bg = curses_color(t, bg_id);
    if (fg < 0 && bg < 0)
        return 0;
    long long key = ((long long)(fg + 1) << 26) ^ (long long)(bg + 1);
    unsigned h = (unsigned)((key * 0x9E3779B97F4A7C15ULL) >> 52) & 4095u;
    for (int probe = 0; probe < 4096; probe++) {
        unsigned i = (h + (unsigned)probe) & 4095u;
        if (t->pair_vals[i] == 0) {
            if (t->pairs_full || t->next_pair >= COLOR_PAIRS || t->next_pair >= 32767)
                return 0;   /* out of pairs: the default colours, still readable */
            if (init_extended_pair(t->next_pair, fg, bg) != OK)
                return 0;
            t->pair_keys[i] = key;
            t->pair_vals[i] = t->next_pair++;
            return t->pair_vals[i];
        }
        if (t->pair_keys[i] == key)
            return t->pair_vals[i];
    }
    t->pairs_full = true;
    return 0;
}

static attr_t curses_attr(const Tui *t, const Cell *c)
{
    int a = c->attr;
    if (t->style.depth == DEPTH_MONO)
        a |= palette_mono_attr(c->fg) | palette_mono_attr(c->bg);
    else {
        a |= palette_role_attr(c->fg);
        if (c->fg == COL_DIM && t->style.depth == DEPTH_8)
            a |= ATTR_DIM;
    }
    attr_t out = A_NORMAL;
    if (a & ATTR_BOLD)
        out |= A_BOLD;
    if (a & ATTR_REVERSE)
        out |= A_REVERSE;
    if (a & ATTR_UNDERLINE)
        out |= A_UNDERLINE;
    if (a & ATTR_DIM)
        out |= A_DIM;
    return out;
}

/* Copies the grid to the screen; ncurses sends only what changed. */
static void blit(Tui *t, const Grid *g)
{
    for (int y = 0; y < g->h && y < LINES; y++) {
        for (int x = 0; x < g->w && x < COLS; x++) {
            const Cell *c = &g->cells[(size_t)y * g->w + x];
            wchar_t wc[2] = {(wchar_t)c->ch, 0};
            int pair = pair_for(t, c->fg, c->bg);
            cchar_t cc;
            setcchar(&cc, wc, curses_attr(t, c), 0, &pair);
            mvwadd_wch(stdscr, y, x, &cc);
        }
    }
    wnoutrefresh(stdscr);
    doupdate();
}

static int translate_key(int r, wint_t wch)
{
    if (r == KEY_CODE_YES) {
        switch ((int)wch) {
        case KEY_LEFT: return AK_LEFT;
        case KEY_RIGHT: return AK_RIGHT;
        case KEY_UP: return AK_UP;
        case KEY_DOWN: return AK_DOWN;
        case KEY_HOME: return AK_HOME;
        case KEY_END: return AK_END;
        case KEY_PPAGE: return AK_PGUP;
        case KEY_NPAGE: return AK_PGDN;
        case KEY_ENTER: return AK_ENTER;
        case KEY_BACKSPACE: return AK_BACKSPACE;
        case KEY_DC: return AK_DELETE;
        case KEY_BTAB: return AK_BTAB;
        case KEY_RESIZE: return AK_RESIZE;
        default: return -1;   /* function keys and the like: ignored */
        }
    }
    switch (wch) {
    case 27: return AK_ESC;
    case '\t': return AK_TAB;
    case '\n':
    case '\r': return AK_ENTER;
    case 12: return AK_REDRAW;   /* Ctrl-L */
    case 127:
    case 8: return AK_BACKSPACE;
    }
    return (int)wch;
}

typedef struct Frame {
    Tui *t;
    App *app;
    Grid *grid;
    /* UTF-8 decoding of the bytes wgetch returns: ncurses' own wget_wch
     * drops invalid sequences silently, and the editor must say why a key
     * was refused */
    uint32_t u8_cp;
    int u8_need;
} Frame;

static void draw(Frame *f)
{
    int w = COLS > 0 ? COLS : 0, h = LINES > 0 ? LINES : 0;
    if (f->grid->w != w || f->grid->h != h) {
        if (grid_resize(f->grid, w, h) < 0)
            return;   /* keep the old frame rather than fail */
        clearok(curscr, TRUE);
    }
    app_draw(f->app, f->grid);
    blit(f->t, f->grid);
}

/* Handles one input event; returns true when a redraw is needed. */
static bool handle(Frame *f, int r, wint_t wch);

/* One result of wgetch: a KEY_* code, or a byte that may start, continue
 * or end a UTF-8 sequence.  Invalid bytes become U+FFFD. */
static bool handle_byte(Frame *f, int c)
{
    if (c >= KEY_MIN) {
        f->u8_need = 0;
        return handle(f, KEY_CODE_YES, (wint_t)c);
    }
    if (f->u8_need > 0) {
        if ((c & 0xc0) == 0x80) {
            f->u8_cp = (f->u8_cp << 6) | (uint32_t)(c & 0x3f);
            if (--f->u8_need > 0)
                return false;
            uint32_t cp = f->u8_cp;
            bool bad = cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff);
            return handle(f, OK, bad ? 0xfffd : (wint_t)cp);
        }
        /* the sequence broke off: refuse it, then take this byte afresh */
        f->u8_need = 0;
        bool dirty = handle(f, OK, 0xfffd);
        return handle_byte(f, c) || dirty;
    }
    if (c < 0x80)
        return handle(f, OK, (wint_t)c);
    if (c >= 0xc2 && c <= 0xdf) {
        f->u8_cp = (uint32_t)(c & 0x1f);
        f->u8_need = 1;
    } else if (c >= 0xe0 && c <= 0xef) {
        f->u8_cp = (uint32_t)(c & 0x0f);
        f->u8_need = 2;
    } else if (c >= 0xf0 && c <= 0xf4) {
        f->u8_cp = (uint32_t)(c & 0x07);
        f->u8_need = 3;
    } else {
        return handle(f, OK, 0xfffd);   /* a continuation byte alone, 0xc0, 0xc1, 0xf5.. */
    }
    return false;
}

static bool handle(Frame *f, int r, wint_t wch)
{
    if (r == KEY_CODE_YES && wch == KEY_MOUSE) {
        MEVENT ev;
        if (getmouse(&ev) != OK)
            return false;
        if (!(ev.bstate & (BUTTON1_PRESSED | BUTTON1_CLICKED | BUTTON1_RELEASED)))
            return false;
        return app_click(f->app, grid_cell(f->grid, ev.x, ev.y));
    }
    int key = translate_key(r, wch);
    if (key < 0)
        return false;
    if (key == AK_ESC) {
        /* A bare Esc has nothing right behind it.  An escape sequence that
         * terminfo does not know (a function key of another terminal type)
         * arrives at once: swallow it whole rather than read it as keys. */
        wtimeout(stdscr, 0);
        int next = wgetch(stdscr);
        if (next == '[' || next == 'O') {
            for (int i = 0; i < 32; i++) {
                int c = wgetch(stdscr);
                if (c == ERR || (c >= 0x40 && c <= 0x7e))
                    break;   /* the final byte of CSI / SS3 */
            }
            return false;
        }
        if (next != ERR)
            return handle_byte(f, next);   /* Alt+key: the key alone */
    }
    if (key == AK_REDRAW)
        clearok(curscr, TRUE);
    return app_key(f->app, key);
}

/* Home and End as the common terminals send them, besides what terminfo
 * says for TERM: tmux sends ESC[1~ / ESC[4~ whatever TERM the program sees,
 * rxvt ESC[7~ / ESC[8~, xterm ESC[H / ESC[F or ESC O H / ESC O F.  With
 * TERM=xterm-256color inside tmux terminfo knows only the xterm ones. */
static void define_home_end(void)
{
    static const char *const home[] = {"\033[1~", "\033[7~", "\033[H", "\033OH"};
    static const char *const end[] = {"\033[4~", "\033[8~", "\033[F", "\033OF"};
    for (size_t i = 0; i < sizeof home / sizeof home[0]; i++) {
        if (key_defined(home[i]) == 0)
            define_key(home[i], KEY_HOME);
        if (key_defined(end[i]) == 0)
            define_key(end[i], KEY_END);
    }
}

/* Whether standard input is gone (the pty closed under us, without a
 * SIGHUP when it was not our controlling terminal): wgetch then fails at
 * once, again and again, instead of waiting for a key. */
static bool input_gone(void)
{
    struct pollfd p = {.fd = STDIN_FILENO, .events = POLLIN};
    if (poll(&p, 1, 0) < 0)
        return errno != EINTR;
    return (p.revents & (POLLHUP | POLLERR | POLLNVAL)) != 0;
}

/* The bench harness's key press: the key, then the frame. */
static void bench_press(void *ctx, int key)
{
    Frame *f = ctx;
    app_key(f->app, key);
    draw(f);
}

/* Errors in a row after which the input counts as gone even when poll()
 * does not say so: each one returned at once rather than after the 500 ms
 * wait, so this is well under a second of spinning. */
#define INPUT_FAILURES_MAX 200

/* How often a run's directory is listed again for new snapshots. */
#define RUN_RELIST_SECONDS 1.0

/* New snapshots of a run still training: the title's count grows; a run
 * that was showing its last snapshot follows to the new last one (to watch
 * a circuit form).  True when the screen changed. */
static bool relist_run(App *a)
{
    SlError e = {0};
    bool at_last = a->snaps->current == a->snaps->run->count - 1;
    int rc = snapshots_refresh(a->snaps, &e);
    if (rc <= 0)
        return false;   /* nothing new, or the listing failed: keep the old one */
    if (app_set_snapshot(a, at_last ? a->snaps->run->count - 1 : a->snaps->current, &e) < 0)
        explorer_set_message(a->ex, true, e.message);
    return true;
}

/* The bench's keys on a run: forward through every snapshot, then back. */
static BenchScript snapshot_script(const Snapshots *s)
{
    static int keys[2 * 4096];
    int n = 0, steps = s->run->count - 1 < 4096 ? s->run->count - 1 : 4096;
    for (int i = 0; i < steps; i++)
        keys[n++] = ')';
    for (int i = 0; i < steps; i++)
        keys[n++] = '(';
    if (n == 0)
        keys[n++] = ')';
    return (BenchScript){keys, n};
}

/* The explorer on opt's list and view: rc < 0 with err filled when it cannot
 * be made or opened there.  A big model's circuits (six of up to d_vocab x
 * d_vocab, each with its colour ranges) and first list take seconds before
 * the first frame: say what is being computed meanwhile, on the line the
 * screen opens over, and clear it once done. */
static Explorer *open_explorer(const SlModel *m, const TuiOptions *opt, int *rc_out, SlError *err)
{
    int rc = 0;
    const SlModelConfig *mc = &m->cfg;
    bool big = (double)mc->d_vocab * mc->d_vocab >= 1e6 || mc->n_ctx >= 200;
    if (big && isatty(STDERR_FILENO)) {
        char name[256];
        render_text_sanitize(opt->model_label ? opt->model_label : "the model", name, sizeof name);
        fprintf(stderr, "sortlens: %s: computing the explorer's circuits (%d x %d token-token, %d positions) and its first list...",
                name, mc->d_vocab, mc->d_vocab, mc->n_ctx);
        fflush(stderr);
    }
    Explorer *ex = explorer_new(m, opt->model_label, opt->seed, err);
    if (ex && (rc = opt->list_text ? explorer_set_list_text(ex, opt->list_text, err) : explorer_recompute(ex, err)) < 0) {
        explorer_free(ex);
        ex = NULL;
    }
    if (big && isatty(STDERR_FILENO))
        fputs(ex ? "\r\033[K" : "\n", stderr);   /* done: the line cleared; failed: the error follows */
    if (!ex) {
        *rc_out = rc < 0 ? rc : err->code;
        return NULL;
    }
    explorer_select(ex, explorer_scene(ex)->n + 1);
    if ((rc = explorer_open_at(ex, opt->at, opt->source, opt->view, opt->layer, opt->head, opt->teacher_forced, err)) < 0 ||
        (opt->ablate && (rc = explorer_set_ablation(ex, opt->ablate, err)) < 0) ||
        (rc = app_open_circuit_state(ex, opt->facet, opt->scale, opt->cell_row, opt->cell_col, err)) < 0) {
        explorer_free(ex);
        *rc_out = rc;
        return NULL;
    }
    *rc_out = 0;
    return ex;
}

/* Ctrl-C, TERM and HUP only set a flag: the loop restores the terminal.
 * Installed before newterm so that ncurses keeps them; it still handles
 * SIGTSTP (Ctrl-Z: restore, stop, redraw on fg) and SIGWINCH. */
static void catch_stop_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
}

/* The curses screen in the explorer's modes, and t's style from what the
 * terminal can show (NO_COLOR honoured); NULL when newterm fails. */
static SCREEN *open_screen(Tui *t)
{
    char dbuf[128];
    const char *dterm = direct_term(dbuf, sizeof dbuf);
    SCREEN *scr = newterm(dterm, stdout, stdin);
    if (!scr && dterm)
        scr = newterm(NULL, stdout, stdin);
    if (!scr)
        return NULL;
    t->screen = scr;
    set_term(scr);
    cbreak();
    noecho();
    nonl();
    keypad(stdscr, TRUE);
    set_escdelay(25);   /* a bare Esc cancels at once */
    curs_set(0);
    mousemask(BUTTON1_PRESSED | BUTTON1_CLICKED, NULL);
    mouseinterval(0);
    define_home_end();
    /* ncurses 6.4 flushes its output at every cursor move (one write(2) to
     * the terminal each) while the screen is as newterm left it; only
     * coming back after endwin does it count as running and write each
     * frame at once.  A key press made 45-180 writes at 220x60 (one per
     * run of changed cells); leaving and coming back before the first
     * frame makes it 1-10, and a key press 0.4-0.5 ms shorter under tmux
     * (2.8 -> 2.4 ms for an intervention switched on a 4 x 4 model). */
    endwin();
    doupdate();

    const char *nc = getenv("NO_COLOR");
    t->no_color = nc && *nc;   /* no-color.org: set and not empty */
    t->style.utf8 = strcmp(nl_langinfo(CODESET), "UTF-8") == 0;
    t->style.depth = DEPTH_MONO;
    if (!t->no_color && has_colors() && start_color() == OK) {
        use_default_colors();
        if (COLORS >= 0x1000000)
            t->style.depth = DEPTH_TRUE;
        else if (COLORS >= 256)
            t->style.depth = DEPTH_256;
        else if (COLORS >= 8)
            t->style.depth = DEPTH_8;
    }
    t->next_pair = 1;
    return scr;
}

/* --bench-frames: opt's keys, then the timed presses (on a run: the
 * snapshot switches, to the last and back); the report goes to stderr
 * after the screen is restored. */
static void run_bench(Frame *f, const TuiOptions *opt, double first_ms)
{
    BenchFrames bench = {0};
    for (const char *k = opt->bench_keys; k && *k; k++)
        bench_press(f, (unsigned char)*k);
    if (f->app->snaps)
        bench_frames_run_script(&bench, opt->bench_frames, snapshot_script(f->app->snaps), bench_press, f);
    else
        bench_frames_run(&bench, opt->bench_frames, bench_press, f);
    endwin();
    bench_frames_report(&bench, first_ms, stderr);
    bench_frames_free(&bench);
}

/* Keys, mouse and ticks until the app quits or a stop signal comes: 0, or
 * SL_EIO when the terminal's input is gone. */
static int event_loop(Frame *f, SlError *err)
{
    App *app = f->app;
    int failures = 0;
    double listed = now_seconds();
    while (!app->quit && !stop_signal) {
        if (app->snaps && now_seconds() - listed >= RUN_RELIST_SECONDS) {
            listed = now_seconds();
            if (relist_run(app))
                draw(f);
        }
        /* wake now and then to notice a signal, and often while work goes on
         * in the background (the atlas) to show how far it has come */
        int wait_ms = app_busy(app) ? 100 : 500;
        wtimeout(stdscr, wait_ms);
        double t0 = now_seconds();
        int c = wgetch(stdscr);
        if (app_tick(app))
            draw(f);
        if (c == ERR) {
            /* a timeout took its wait; an input that failed at once, again and again, is gone */
            bool quick = now_seconds() - t0 < wait_ms / 2000.0;
            failures = quick ? failures + 1 : 0;
            if (quick && (input_gone() || failures >= INPUT_FAILURES_MAX))
                return sl_error_set(err, SL_EIO, "the terminal went away (its input fails); leaving");
            continue;
        }
        failures = 0;
        bool dirty = handle_byte(f, c);
        /* take everything already typed or pasted before drawing again, so
         * that a 100 KB paste or a resize storm costs one frame */
        wtimeout(stdscr, 0);
        for (long i = 0; i < 1000000 && !app->quit && !stop_signal; i++) {
            if ((c = wgetch(stdscr)) == ERR)
                break;
            dirty |= handle_byte(f, c);
        }
        if (dirty && !app->quit)
            draw(f);
    }
    return 0;
}

int tui_run(const SlModel *m, const TuiOptions *opt, int *stop_sig, SlError *err)
{
    char why[512];
    int rc = 0;
    *stop_sig = 0;
    setlocale(LC_ALL, "");
    if (tui_terminal_problem(why, sizeof why))
        return sl_error_set(err, SL_EIO, "%s", why);
    /* One list at a time: BLAS threads would only spin (sched_yield) after
     * each small product of the attribution, 3 ms a key press on 2 cores. */
    sl_blas_set_threads(1);
    Explorer *ex = open_explorer(m, opt, &rc, err);
    if (!ex)
        return rc;
    catch_stop_signals();
    Tui *t = calloc(1, sizeof *t);
    Grid *grid = grid_new(0, 0);
    SCREEN *scr = (t && grid) ? open_screen(t) : NULL;
    if (!scr) {
        rc = sl_error_set(err, t && grid ? SL_EIO : SL_ENOMEM, "cannot start the terminal (%s)",
                          t && grid ? "newterm failed" : "out of memory");
        free(t);
        grid_free(grid);
        explorer_free(ex);
        return rc;
    }

    App app;
    app_init(&app, ex, t->style);
    app.model_path = opt->model_label;
    if (opt->facet >= 0)
        app.facet = opt->facet;
    if (opt->input)
        app_set_input(&app, opt->input, opt->input_name);
    if (opt->run_dir) {
        SlError serr = {0};
        if (!(app.snaps = snapshots_open(opt->run_dir, opt->step, m, &serr)) ||
            app_set_snapshot(&app, app.snaps->current, &serr) < 0) {
            rc = sl_error_set(err, serr.code ? serr.code : SL_EIO, "%s", serr.message);
            endwin();
            goto done;
        }
    }
    Frame f = {.t = t, .app = &app, .grid = grid};
    draw(&f);
    double first_ms = (now_seconds() - opt->start_time) * 1e3;
    if (opt->bench_frames >= 0) {
        run_bench(&f, opt, first_ms);
        goto done;
    }
    rc = event_loop(&f, err);
    endwin();
    if (app.reopen[0])   /* the state the user asked to keep, for the shell */
        printf("%s\n", app.reopen);
    if (stop_signal)
        *stop_sig = (int)stop_signal;
done:
    snapshots_free(app.snaps);
    app_free(&app);
    delscreen(scr);
    free(t);
    grid_free(grid);
    explorer_free(ex);
    return rc;
}
