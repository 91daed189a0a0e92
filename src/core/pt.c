/* pt.c: read torch.save(state_dict) checkpoints without executing anything.
 *
 * The file is a ZIP (read with libzip, from memory) whose entries all sit
 * under one top-level folder: FOLDER/data.pkl holds a protocol-2 pickle of
 * the state dict, FOLDER/data/<key> the raw little-endian storages.
 *
 * The pickle is run by a small interpreter that knows only the opcodes
 * torch.save emits for a state dict and builds inert values: GLOBAL looks
 * names up in an exact allowlist and yields a token, REDUCE "calls" only
 * the allowlisted constructors (OrderedDict, _rebuild_tensor_v2 and
 * _rebuild_parameter) by building a record, and nothing
 * is ever executed.  The whole pickle is parsed first, then every tensor
 * view is validated against its storage's declared size, and only then are
 * storages read, each exactly as large as the pickle declares.
 *
 * Untrusted input: every length is checked against the buffer, the memo is
 * a hash map (an index never sizes an array), stack and memo sizes are
 * capped, nothing recurses over values, and every allocation is bounded by
 * the input's size (storages: by the entry's size, with compressed entries
 * limited to deflate's largest possible expansion).
 */
#include "sortlens/pt.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zip.h>

/* Limits for hostile pickles; a real state dict is far below each. */
#define PT_MAX_PICKLE (64u << 20)     /* data.pkl bytes */
#define PT_MAX_STACK 65536            /* values on the stack */
#define PT_MAX_MARKS 4096             /* open MARKs */
#define PT_MAX_MEMO (1u << 20)        /* memo entries */
#define PT_MAX_STRING (1u << 20)      /* one BINUNICODE */
/* Deflate expands at most about 1032:1; anything beyond is not a deflate
 * stream we should trust, and the bound keeps allocation linear in the input. */
#define PT_MAX_EXPANSION 1040u

/* ---- inert values ------------------------------------------------------------ */

typedef enum { V_NONE, V_BOOL, V_INT, V_FLOAT, V_STR, V_TUPLE, V_DICT, V_GLOBAL, V_STORAGE, V_TENSOR } VKind;

typedef enum {
    G_ORDERED_DICT,       /* collections.OrderedDict */
    G_REBUILD_TENSOR_V2,  /* torch._utils._rebuild_tensor_v2 */
    G_REBUILD_PARAMETER,  /* torch._utils._rebuild_parameter (state_dict(keep_vars=True)) */
    G_STORAGE,            /* torch.<X>Storage: a storage class (dtype in Val) */
} GlobalKind;

typedef struct Val Val;
struct Val {
    VKind kind;
    union {
        bool b;
        int64_t i;
        double f;
        struct { char *s; size_t len; } str;
        struct { Val **items; size_t n; } tup;
        struct { Val **kv; size_t n, cap; } dict;   /* kv[2i] key, kv[2i+1] value */
        struct { GlobalKind kind; DType dtype; const char *name; } global;
        struct {
            DType dtype;
            const char *key;
            int64_t numel;
            Val *canon;         /* the first storage with this key */
            uint8_t *data;      /* loaded bytes (canonical storage only) */
            size_t nbytes;
        } storage;
        struct {
            Val *storage;
            int64_t offset;
            int ndim;
            int64_t size[TENSOR_MAX_DIMS], stride[TENSOR_MAX_DIMS];
        } tensor;
    } u;
};

/* Everything the interpreter builds lives in one arena, freed at once, so
 * that shared and even cyclic values (a dict put into itself through the
 * memo) need no reference counting and no recursion to free. */
typedef struct Chunk { struct Chunk *next; size_t used, size; max_align_t data[]; } Chunk;
typedef struct Arena { Chunk *head; } Arena;

static void *arena_alloc(Arena *a, size_t n)
{
    n = (n + sizeof(max_align_t) - 1) / sizeof(max_align_t) * sizeof(max_align_t);
    if (!a->head || a->head->size - a->head->used < n) {
        size_t size = n > 65536 ? n : 65536;
        Chunk *c = malloc(sizeof *c + size);
        if (!c)
            return NULL;
        c->next = a->head;
        c->used = 0;
        c->size = size;
        a->head = c;
    }
    void *p = (char *)a->head->data + a->head->used;
    a->head->used += n;
    memset(p, 0, n);
    return p;
}

static void arena_free(Arena *a)
{
    while (a->head) {
        Chunk *next = a->head->next;
        free(a->head);
        a->head = next;
    }
}

/* ---- the allowlist ----------------------------------------------------------- */

static const struct {
    const char *module, *name;
    GlobalKind kind;
    DType dtype;
} allowlist[] = {
    {"collections", "OrderedDict", G_ORDERED_DICT, DT_F32},
    {"torch._utils", "_rebuild_tensor_v2", G_REBUILD_TENSOR_V2, DT_F32},
    {"torch._utils", "_rebuild_parameter", G_REBUILD_PARAMETER, DT_F32},
    {"torch", "FloatStorage", G_STORAGE, DT_F32},
    {"torch", "DoubleStorage", G_STORAGE, DT_F64},
    {"torch", "HalfStorage", G_STORAGE, DT_F16},
    {"torch", "BFloat16Storage", G_STORAGE, DT_BF16},
    {"torch", "LongStorage", G_STORAGE, DT_I64},
    {"torch", "IntStorage", G_STORAGE, DT_I32},
    {"torch", "ShortStorage", G_STORAGE, DT_I16},
    {"torch", "CharStorage", G_STORAGE, DT_I8},
    {"torch", "ByteStorage", G_STORAGE, DT_U8},
    {"torch", "BoolStorage", G_STORAGE, DT_BOOL},
};

/* ---- the interpreter ----------------------------------------------------------- */

typedef struct MemoEntry { uint32_t key; bool used; Val *val; } MemoEntry;

typedef struct Unpickler {
    const uint8_t *p, *end, *start;
    const char *label;       /* "FILE: FOLDER/data.pkl" */
    SlError *err;
    Arena arena;
    Val **stack;
    size_t sp, stack_cap;
    size_t *marks;
    size_t nmarks, marks_cap;
    MemoEntry *memo;          /* open addressing, capacity a power of two */
    size_t memo_count, memo_cap;
    uint64_t memo_seed;       /* keys the memo hash, so that no file can be made to collide */
    size_t op_at;             /* offset of the current opcode, for messages */
} Unpickler;

static int fail(Unpickler *u, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(Unpickler *u, const char *fmt, ...)
{
    char msg[SL_ERROR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return sl_error_set(u->err, SL_EFORMAT, "%s: byte %zu: %s", u->label, u->op_at, msg);
}

static int nomem(Unpickler *u) { return sl_error_set(u->err, SL_ENOMEM, "%s: out of memory", u->label); }

static Val *new_val(Unpickler *u, VKind kind)
{
    Val *v = arena_alloc(&u->arena, sizeof *v);
    if (v)
        v->kind = kind;
    return v;
}

static int push(Unpickler *u, Val *v)
{
    if (!v)
        return nomem(u);
    if (u->sp == u->stack_cap) {
        if (u->stack_cap >= PT_MAX_STACK)
            return fail(u, "the pickle stack grows past %d values", PT_MAX_STACK);
        size_t cap = u->stack_cap ? 2 * u->stack_cap : 64;
        Val **s = realloc(u->stack, cap * sizeof *s);
        if (!s)
            return nomem(u);
        u->stack = s;
        u->stack_cap = cap;
    }
    u->stack[u->sp++] = v;
    return 0;
}

/* The first value above the innermost MARK, or a message. */
static int mark_base(Unpickler *u, const char *op, size_t *base)
{
    if (u->nmarks == 0)
        return fail(u, "%s without a MARK", op);
    *base = u->marks[--u->nmarks];
    return 0;
}

static int need_stack(Unpickler *u, size_t n, const char *op)
{
    size_t floor = u->nmarks ? u->marks[u->nmarks - 1] : 0;
    if (u->sp < floor + n)
        return fail(u, "%s needs %zu value%s on the stack; %s", op, n, n == 1 ? "" : "s",
                    u->sp > floor ? "too few are there" : "it is empty");
    return 0;
}

static bool take(Unpickler *u, size_t n, const uint8_t **out)
{
    if ((size_t)(u->end - u->p) < n)
        return false;
    *out = u->p;
    u->p += n;
    return true;
}

/* A keyed 64-bit mix (murmur3's finaliser over key ^ seed): memo indices are
 * chosen by the file, and with a fixed hash a hostile pickle could put
 * every index in one chain and make loading quadratic. */
static uint64_t memo_hash(uint64_t k, uint64_t seed)
{
    k ^= seed;
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdull;
    k ^= k >> 33;
    k *= 0xc4ceb9fe1a85ec53ull;
    k ^= k >> 33;
    return k;
}

static uint64_t memo_new_seed(void)
{
    uint64_t seed = 0;
    if (getentropy(&seed, sizeof seed) != 0) {
        /* no entropy source: the clock and an address still vary per run */
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        seed = (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ull ^ (uint64_t)(uintptr_t)&seed;
    }
    return seed;
}

static MemoEntry *memo_slot(MemoEntry *tab, size_t cap, uint32_t key, uint64_t seed)
{
    size_t i = (size_t)memo_hash(key, seed) & (cap - 1);
    while (tab[i].used && tab[i].key != key)
        i = (i + 1) & (cap - 1);
    return &tab[i];
}

static int memo_put(Unpickler *u, uint32_t key)
{
    if (u->sp == 0 || (u->nmarks && u->marks[u->nmarks - 1] == u->sp))
        return fail(u, "memo put with an empty stack");
    if (u->memo_count + 1 > u->memo_cap / 2) {
        if (u->memo_count >= PT_MAX_MEMO)
            return fail(u, "more than %u memo entries", PT_MAX_MEMO);
        size_t cap = u->memo_cap ? 2 * u->memo_cap : 256;
        MemoEntry *tab = calloc(cap, sizeof *tab);
        if (!tab)
            return nomem(u);
        for (size_t i = 0; i < u->memo_cap; i++)
            if (u->memo[i].used)
                *memo_slot(tab, cap, u->memo[i].key, u->memo_seed) = u->memo[i];
        free(u->memo);
        u->memo = tab;
        u->memo_cap = cap;
    }
    MemoEntry *e = memo_slot(u->memo, u->memo_cap, key, u->memo_seed);
    if (!e->used)
        u->memo_count++;
    e->used = true;
    e->key = key;
    e->val = u->stack[u->sp - 1];
    return 0;
}

static int memo_get(Unpickler *u, uint32_t key)
{
    MemoEntry *e = u->memo_cap ? memo_slot(u->memo, u->memo_cap, key, u->memo_seed) : NULL;
    if (!e || !e->used)
        return fail(u, "memo slot %" PRIu32 " read before it was set", key);
    return push(u, e->val);
}

/* Strict UTF-8 (no overlong forms, no surrogates, nothing past U+10FFFF);
 * NUL is refused too, since names become C strings. */
static bool valid_utf8(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        if (c == 0)
            return false;
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t len;
        uint32_t cp, min;
        if ((c & 0xe0) == 0xc0) { len = 2; cp = c & 0x1f; min = 0x80; }
        else if ((c & 0xf0) == 0xe0) { len = 3; cp = c & 0x0f; min = 0x800; }
        else if ((c & 0xf8) == 0xf0) { len = 4; cp = c & 0x07; min = 0x10000; }
        else return false;
        if (n - i < len)
            return false;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return false;
            cp = cp << 6 | (s[i + k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += len;
    }
    return true;
}

/* Copies at most 60 printable characters of s for a message. */
static void printable(const uint8_t *s, size_t n, char *out, size_t outsize)
{
    size_t o = 0;
    for (size_t i = 0; i < n && o + 5 < outsize && i < 60; i++) {
        if (s[i] >= 0x20 && s[i] < 0x7f)
            out[o++] = (char)s[i];
        else
            o += (size_t)snprintf(out + o, outsize - o, "\\x%02x", s[i]);
    }
    out[o] = '\0';
}

static int op_global(Unpickler *u)
{
    /* "module\nname\n", both printable ASCII */
    const uint8_t *parts[2];
    size_t lens[2];
    for (int k = 0; k < 2; k++) {
        const uint8_t *nl = memchr(u->p, '\n', (size_t)(u->end - u->p));
        if (!nl)
            return fail(u, "GLOBAL runs past the end of the pickle");
        parts[k] = u->p;
        lens[k] = (size_t)(nl - u->p);
        u->p = nl + 1;
    }
    for (size_t i = 0; i < sizeof allowlist / sizeof allowlist[0]; i++)
        if (strlen(allowlist[i].module) == lens[0] && memcmp(allowlist[i].module, parts[0], lens[0]) == 0 &&
            strlen(allowlist[i].name) == lens[1] && memcmp(allowlist[i].name, parts[1], lens[1]) == 0) {
            Val *v = new_val(u, V_GLOBAL);
            if (v) {
                v->u.global.kind = allowlist[i].kind;
                v->u.global.dtype = allowlist[i].dtype;
                v->u.global.name = allowlist[i].name;
            }
            return push(u, v);
        }
    char m[256], n[256];
    printable(parts[0], lens[0], m, sizeof m);
    printable(parts[1], lens[1], n, sizeof n);
    return fail(u, "GLOBAL %s.%s is not allowed (a state dict needs only OrderedDict, _rebuild_tensor_v2, _rebuild_parameter and storage types)",
                m, n);
}

static int make_tuple(Unpickler *u, size_t base)
{
    size_t n = u->sp - base;
    Val *t = new_val(u, V_TUPLE);
    if (!t)
        return nomem(u);
    if (n) {
        t->u.tup.items = arena_alloc(&u->arena, n * sizeof(Val *));
        if (!t->u.tup.items)
            return nomem(u);
        memcpy(t->u.tup.items, u->stack + base, n * sizeof(Val *));
    }
    t->u.tup.n = n;
    u->sp = base;
    return push(u, t);
}

static int dict_append(Unpickler *u, Val *d, Val *k, Val *v)
{
    if (k->kind != V_STR)
        return fail(u, "a dict key is not a string");
    if (d->u.dict.n == d->u.dict.cap) {
        size_t cap = d->u.dict.cap ? 2 * d->u.dict.cap : 8;
        Val **kv = arena_alloc(&u->arena, 2 * cap * sizeof(Val *));
        if (!kv)
            return nomem(u);
        if (d->u.dict.n)
            memcpy(kv, d->u.dict.kv, 2 * d->u.dict.n * sizeof(Val *));
        d->u.dict.kv = kv;
        d->u.dict.cap = cap;
    }
    /* Appended without looking for an equal key (that would be quadratic on
     * a hostile pickle); duplicate tensor names are refused afterwards. */
    d->u.dict.kv[2 * d->u.dict.n] = k;
    d->u.dict.kv[2 * d->u.dict.n + 1] = v;
    d->u.dict.n++;
    return 0;
}

static bool is_int(const Val *v) { return v->kind == V_INT; }

/* _rebuild_tensor_v2(storage, offset, size, stride, requires_grad,
 * backward_hooks[, metadata]) as a record; validated later. */
static int rebuild_tensor(Unpickler *u, const Val *args)
{
    size_t n = args->u.tup.n;
    Val **a = args->u.tup.items;
    if (n != 6 && n != 7)
        return fail(u, "_rebuild_tensor_v2 takes 6 or 7 arguments, got %zu", n);
    if (a[0]->kind != V_STORAGE)
        return fail(u, "_rebuild_tensor_v2: the first argument is not a storage");
    if (!is_int(a[1]) || a[1]->u.i < 0)
        return fail(u, "_rebuild_tensor_v2: the storage offset is not a non-negative integer");
    if (a[2]->kind != V_TUPLE || a[3]->kind != V_TUPLE)
        return fail(u, "_rebuild_tensor_v2: size and stride are not tuples");
    if (a[2]->u.tup.n > TENSOR_MAX_DIMS)
        return fail(u, "_rebuild_tensor_v2: %zu dimensions; at most %d are supported", a[2]->u.tup.n, TENSOR_MAX_DIMS);
    if (a[2]->u.tup.n != a[3]->u.tup.n)
        return fail(u, "_rebuild_tensor_v2: %zu sizes but %zu strides", a[2]->u.tup.n, a[3]->u.tup.n);
    if (a[4]->kind != V_BOOL)
        return fail(u, "_rebuild_tensor_v2: requires_grad is not a bool");
    if (a[5]->kind != V_DICT || a[5]->u.dict.n != 0)
        return fail(u, "_rebuild_tensor_v2: backward hooks are not an empty OrderedDict");
    if (n == 7 && a[6]->kind != V_DICT && a[6]->kind != V_NONE)
        return fail(u, "_rebuild_tensor_v2: metadata is not a dict");
    Val *t = new_val(u, V_TENSOR);
    if (!t)
        return nomem(u);
    t->u.tensor.storage = a[0];
    t->u.tensor.offset = a[1]->u.i;
    t->u.tensor.ndim = (int)a[2]->u.tup.n;
    for (int d = 0; d < t->u.tensor.ndim; d++) {
        const Val *s = a[2]->u.tup.items[d], *st = a[3]->u.tup.items[d];
        if (!is_int(s) || s->u.i < 0)
            return fail(u, "_rebuild_tensor_v2: size[%d] is not a non-negative integer", d);
        if (!is_int(st) || st->u.i < 0)
            return fail(u, "_rebuild_tensor_v2: stride[%d] is not a non-negative integer", d);
        t->u.tensor.size[d] = s->u.i;
        t->u.tensor.stride[d] = st->u.i;
    }
    return push(u, t);
}

/* _rebuild_parameter(data, requires_grad, backward_hooks): what
 * state_dict(keep_vars=True) saves for an nn.Parameter.  The parameter is
 * its tensor; nothing else of it matters here. */
static int rebuild_parameter(Unpickler *u, const Val *args)
{
    size_t n = args->u.tup.n;
    Val **a = args->u.tup.items;
    if (n != 3)
        return fail(u, "_rebuild_parameter takes 3 arguments, got %zu", n);
    if (a[0]->kind != V_TENSOR)
        return fail(u, "_rebuild_parameter: the first argument is not a tensor");
    if (a[1]->kind != V_BOOL)
        return fail(u, "_rebuild_parameter: requires_grad is not a bool");
    if (a[2]->kind != V_DICT || a[2]->u.dict.n != 0)
        return fail(u, "_rebuild_parameter: backward hooks are not an empty OrderedDict");
    return push(u, a[0]);
}

static int op_reduce(Unpickler *u)
{
    int rc = need_stack(u, 2, "REDUCE");
    if (rc)
        return rc;
    Val *args = u->stack[--u->sp];
    Val *fn = u->stack[--u->sp];
    if (fn->kind != V_GLOBAL || fn->u.global.kind == G_STORAGE)
        return fail(u, "REDUCE on something that is not an allowed function");
    if (args->kind != V_TUPLE)
        return fail(u, "REDUCE arguments are not a tuple");
    if (fn->u.global.kind == G_ORDERED_DICT) {
        if (args->u.tup.n != 0)
            return fail(u, "OrderedDict takes no arguments here, got %zu", args->u.tup.n);
        return push(u, new_val(u, V_DICT));
    }
    if (fn->u.global.kind == G_REBUILD_PARAMETER)
        return rebuild_parameter(u, args);
    return rebuild_tensor(u, args);
}

/* ('storage', <storage class>, key, location, numel) */
static int op_binpersid(Unpickler *u)
{
    int rc = need_stack(u, 1, "BINPERSID");
    if (rc)
        return rc;
    Val *pid = u->stack[--u->sp];
    const char *bad = "a persistent id that is not ('storage', <storage type>, key, location, numel)";
    if (pid->kind != V_TUPLE || pid->u.tup.n != 5)
        return fail(u, "%s", bad);
    Val **a = pid->u.tup.items;
    if (a[0]->kind != V_STR || strcmp(a[0]->u.str.s, "storage") != 0 || a[1]->kind != V_GLOBAL ||
        a[1]->u.global.kind != G_STORAGE || a[2]->kind != V_STR || a[3]->kind != V_STR || !is_int(a[4]))
        return fail(u, "%s", bad);
    const char *key = a[2]->u.str.s;
    size_t klen = a[2]->u.str.len;
    bool decimal = klen >= 1 && klen <= 18 && !(klen > 1 && key[0] == '0');
    for (size_t i = 0; decimal && i < klen; i++)
        decimal = key[i] >= '0' && key[i] <= '9';
    if (!decimal) {
        char k[256];
        printable((const uint8_t *)key, klen, k, sizeof k);
        return fail(u, "storage key '%s' is not a plain decimal number", k);
    }
    int64_t numel = a[4]->u.i;
    size_t esize = dtype_size(a[1]->u.global.dtype);
    if (numel < 0 || (uint64_t)numel > SIZE_MAX / esize)
        return fail(u, "storage %s: %" PRId64 " elements of %zu bytes is negative or overflows", key, numel, esize);
    Val *s = new_val(u, V_STORAGE);
    if (!s)
        return nomem(u);
    s->u.storage.dtype = a[1]->u.global.dtype;
    s->u.storage.key = key;
    s->u.storage.numel = numel;
    s->u.storage.nbytes = (size_t)numel * esize;
    return push(u, s);
}

static int read_string(Unpickler *u, uint64_t n)
{
    const uint8_t *s;
    if (n > (uint64_t)(u->end - u->p))
        return fail(u, "a string of %" PRIu64 " bytes runs past the end of the pickle", n);
    if (n > PT_MAX_STRING)
        return fail(u, "a string of %" PRIu64 " bytes; names longer than %u bytes are refused", n, PT_MAX_STRING);
    take(u, (size_t)n, &s);
    if (!valid_utf8(s, (size_t)n))
        return fail(u, "a string is not valid UTF-8 (or holds a NUL)");
    Val *v = new_val(u, V_STR);
    if (!v)
        return nomem(u);
    v->u.str.s = arena_alloc(&u->arena, (size_t)n + 1);
    if (!v->u.str.s)
        return nomem(u);
    memcpy(v->u.str.s, s, (size_t)n);
    v->u.str.len = (size_t)n;
    return push(u, v);
}

static Val *int_val(Unpickler *u, int64_t i)
{
    Val *v = new_val(u, V_INT);
    if (v)
        v->u.i = i;
    return v;
}

/* Runs the pickle; on success *out is the single value left at STOP. */
static int unpickle(Unpickler *u, Val **out)
{
    for (;;) {
        const uint8_t *b;
        u->op_at = (size_t)(u->p - u->start);
        if (!take(u, 1, &b))
            return fail(u, "the pickle ends without STOP");
        uint8_t op = *b;
        int rc = 0;
        switch (op) {
        case 0x80: /* PROTO */
            if (!take(u, 1, &b))
                return fail(u, "PROTO runs past the end");
            if (*b < 2 || *b > 5)
                return fail(u, "pickle protocol %d is not supported", *b);
            break;
        case 'c': rc = op_global(u); break;
        case 'q': /* BINPUT */
            if (!take(u, 1, &b))
                return fail(u, "BINPUT runs past the end");
            rc = memo_put(u, *b);
            break;
        case 'r': /* LONG_BINPUT */
            if (!take(u, 4, &b))
                return fail(u, "LONG_BINPUT runs past the end");
            rc = memo_put(u, (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24);
            break;
        case 'h': /* BINGET */
            if (!take(u, 1, &b))
                return fail(u, "BINGET runs past the end");
            rc = memo_get(u, *b);
            break;
        case 'j': /* LONG_BINGET */
            if (!take(u, 4, &b))
                return fail(u, "LONG_BINGET runs past the end");
            rc = memo_get(u, (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24);
            break;
        case ')': rc = push(u, new_val(u, V_TUPLE)); break;
        case '}': rc = push(u, new_val(u, V_DICT)); break;
        case '(': /* MARK */
            if (u->nmarks == u->marks_cap) {
                if (u->marks_cap >= PT_MAX_MARKS)
                    return fail(u, "more than %d nested MARKs", PT_MAX_MARKS);
                size_t cap = u->marks_cap ? 2 * u->marks_cap : 16;
                size_t *m = realloc(u->marks, cap * sizeof *m);
                if (!m)
                    return nomem(u);
                u->marks = m;
                u->marks_cap = cap;
            }
            u->marks[u->nmarks++] = u->sp;
            break;
        case 't': { /* TUPLE */
            size_t base = 0;
            rc = mark_base(u, "TUPLE", &base);
            if (!rc)
                rc = make_tuple(u, base);
            break;
        }
        case 0x85: case 0x86: case 0x87: { /* TUPLE1..3 */
            size_t n = (size_t)(op - 0x84);
            rc = need_stack(u, n, "TUPLEn");
            if (!rc)
                rc = make_tuple(u, u->sp - n);
            break;
        }
        case 'X': /* BINUNICODE */
            if (!take(u, 4, &b))
                return fail(u, "BINUNICODE runs past the end");
            rc = read_string(u, (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24);
            break;
        case 'J': /* BININT: 4-byte signed */
            if (!take(u, 4, &b))
                return fail(u, "BININT runs past the end");
            rc = push(u, int_val(u, (int32_t)((uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
                                              (uint32_t)b[3] << 24)));
            break;
        case 'K':
            if (!take(u, 1, &b))
                return fail(u, "BININT1 runs past the end");
            rc = push(u, int_val(u, b[0]));
            break;
        case 'M':
            if (!take(u, 2, &b))
                return fail(u, "BININT2 runs past the end");
            rc = push(u, int_val(u, b[0] | b[1] << 8));
            break;
        case 0x8a: { /* LONG1: n bytes of little-endian two's complement */
            if (!take(u, 1, &b))
                return fail(u, "LONG1 runs past the end");
            size_t n = *b;
            if (n > 8)
                return fail(u, "LONG1 of %zu bytes does not fit in 64 bits", n);
            if (!take(u, n, &b))
                return fail(u, "LONG1 runs past the end");
            uint64_t v = 0;
            for (size_t k = 0; k < n; k++)
                v |= (uint64_t)b[k] << (8 * k);
            if (n && n < 8 && (b[n - 1] & 0x80))
                v |= ~(uint64_t)0 << (8 * n);   /* sign-extend */
            rc = push(u, int_val(u, (int64_t)v));
            break;
        }
        case 0x88: case 0x89: { /* NEWTRUE, NEWFALSE */
            Val *v = new_val(u, V_BOOL);
            if (v)
                v->u.b = op == 0x88;
            rc = push(u, v);
            break;
        }
        case 'G': { /* BINFLOAT: 8-byte big-endian double */
            if (!take(u, 8, &b))
                return fail(u, "BINFLOAT runs past the end");
            uint64_t bits = 0;
            for (int k = 0; k < 8; k++)
                bits = bits << 8 | b[k];
            Val *v = new_val(u, V_FLOAT);
            if (v)
                memcpy(&v->u.f, &bits, 8);
            rc = push(u, v);
            break;
        }
        case 'Q': rc = op_binpersid(u); break;
        case 'R': rc = op_reduce(u); break;
        case 's': { /* SETITEM */
            rc = need_stack(u, 3, "SETITEM");
            if (rc)
                break;
            Val *v = u->stack[--u->sp], *k = u->stack[--u->sp], *d = u->stack[u->sp - 1];
            if (d->kind != V_DICT)
                return fail(u, "SETITEM on something that is not a dict");
            rc = dict_append(u, d, k, v);
            break;
        }
        case 'u': { /* SETITEMS */
            size_t base = 0;
            rc = mark_base(u, "SETITEMS", &base);
            if (rc)
                break;
            if (base == 0 || (u->nmarks && u->marks[u->nmarks - 1] >= base))
                return fail(u, "SETITEMS with no dict below its MARK");
            Val *d = u->stack[base - 1];
            if (d->kind != V_DICT)
                return fail(u, "SETITEMS on something that is not a dict");
            if ((u->sp - base) % 2)
                return fail(u, "SETITEMS with an odd number of values (%zu)", u->sp - base);
            for (size_t i = base; !rc && i < u->sp; i += 2)
                rc = dict_append(u, d, u->stack[i], u->stack[i + 1]);
            u->sp = base;
            break;
        }
        case 'b': { /* BUILD: the state dict's _metadata; inert, ignored */
            rc = need_stack(u, 2, "BUILD");
            if (rc)
                break;
            Val *state = u->stack[--u->sp], *obj = u->stack[u->sp - 1];
            if (obj->kind != V_DICT || state->kind != V_DICT)
                return fail(u, "BUILD on something other than a dict, or with a state that is not a dict");
            break;
        }
        case '.': /* STOP */
            if (u->nmarks)
                return fail(u, "STOP with an open MARK");
            if (u->sp != 1)
                return fail(u, u->sp ? "STOP with %zu values on the stack; expected one" : "STOP with an empty stack",
                            u->sp);
            if (u->p != u->end)
                return fail(u, "%zu bytes after STOP", (size_t)(u->end - u->p));
            *out = u->stack[0];
            return 0;
        default:
            return fail(u, "opcode 0x%02x is not one a state dict uses", op);
        }
        if (rc)
            return rc;
    }
}

/* ---- validation and storage loading ----------------------------------------- */

typedef struct PtZip {
    zip_t *za;
    const char *label;
    char *prefix;     /* the top-level folder, with its trailing '/' */
} PtZip;

static int cmp_storage_key(const void *a, const void *b)
{
    const Val *x = *(Val *const *)a, *y = *(Val *const *)b;
    size_t lx = strlen(x->u.storage.key), ly = strlen(y->u.storage.key);
    if (lx != ly)
        return lx < ly ? -1 : 1;
    return strcmp(x->u.storage.key, y->u.storage.key);
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Reads an entry of exactly `expect` bytes into out; refuses a different
 * size, encryption, or an expansion ratio no deflate stream has. */
static int read_entry(PtZip *z, const char *name, uint64_t expect, uint8_t *out, SlError *err)
{
    zip_int64_t idx = zip_name_locate(z->za, name, ZIP_FL_ENC_RAW);
    if (idx < 0)
        return sl_error_set(err, SL_EFORMAT, "%s: entry %s is missing", z->label, name);
    zip_stat_t st;
    zip_stat_init(&st);
    if (zip_stat_index(z->za, (zip_uint64_t)idx, 0, &st) != 0)
        return sl_error_set(err, SL_EFORMAT, "%s: entry %s: %s", z->label, name, zip_strerror(z->za));
    if ((st.valid & ZIP_STAT_ENCRYPTION_METHOD) && st.encryption_method != ZIP_EM_NONE)
        return sl_error_set(err, SL_EFORMAT, "%s: entry %s is encrypted", z->label, name);
    if (!(st.valid & ZIP_STAT_SIZE) || st.size != expect)
        return sl_error_set(err, SL_EFORMAT, "%s: entry %s holds %" PRIu64 " bytes; the pickle declares %" PRIu64, z->label,
                            name, (uint64_t)st.size, expect);
    if ((st.valid & ZIP_STAT_COMP_METHOD) && st.comp_method != ZIP_CM_STORE &&
        (!(st.valid & ZIP_STAT_COMP_SIZE) || expect / PT_MAX_EXPANSION > st.comp_size))
        return sl_error_set(err, SL_EFORMAT, "%s: entry %s expands %" PRIu64 " compressed bytes to %" PRIu64
                            ", more than deflate can", z->label, name, (uint64_t)st.comp_size, expect);
    zip_file_t *f = zip_fopen_index(z->za, (zip_uint64_t)idx, 0);
    if (!f)
        return sl_error_set(err, SL_EFORMAT, "%s: entry %s cannot be read: %s", z->label, name, zip_strerror(z->za));
    uint64_t got = 0;
    while (got < expect) {
        zip_int64_t r = zip_fread(f, out + got, expect - got);
        if (r < 0) {
            sl_error_set(err, SL_EFORMAT, "%s: entry %s is corrupt: %s", z->label, name, zip_error_strerror(zip_file_get_error(f)));
            zip_fclose(f);
            return SL_EFORMAT;
        }
        if (r == 0)
            break;
        got += (uint64_t)r;
    }
    uint8_t extra;
    zip_int64_t more = got == expect ? zip_fread(f, &extra, 1) : 0;
    if (more < 0) {
        sl_error_set(err, SL_EFORMAT, "%s: entry %s is corrupt: %s", z->label, name, zip_error_strerror(zip_file_get_error(f)));
        zip_fclose(f);
        return SL_EFORMAT;
    }
    zip_fclose(f);
    if (got != expect || more != 0)
        return sl_error_set(err, SL_EFORMAT, "%s: entry %s is %s than its header says", z->label, name,
                            got != expect ? "shorter" : "longer");
    return 0;
}

/* Checks a tensor view against its storage: every element it addresses
 * lies inside.  Returns numel via *numel_out. */
static int check_view(const char *label, const char *name, const Val *t, int64_t *numel_out, SlError *err)
{
    const Val *s = t->u.tensor.storage;
    int64_t numel = 1;
    int64_t last = t->u.tensor.offset;   /* offset of the last element addressed */
    for (int d = 0; d < t->u.tensor.ndim; d++) {
        int64_t sz = t->u.tensor.size[d], step;
        if (sz == 0)
            numel = 0;
        else if (__builtin_mul_overflow(numel, sz, &numel) ||
                 __builtin_mul_overflow(sz - 1, t->u.tensor.stride[d], &step) || __builtin_add_overflow(last, step, &last))
            return sl_error_set(err, SL_EFORMAT, "%s: tensor %s: its size or strides overflow", label, name);
    }
    if (numel > 0 && last >= s->u.storage.numel)
        return sl_error_set(err, SL_EFORMAT, "%s: tensor %s: the view (offset %" PRId64 ") reaches element %" PRId64
                            " of storage %s, which holds %" PRId64, label, name, t->u.tensor.offset, last,
                            s->u.storage.key, s->u.storage.numel);
    if (numel == 0 && t->u.tensor.offset > s->u.storage.numel)
        return sl_error_set(err, SL_EFORMAT, "%s: tensor %s: offset %" PRId64 " is past the end of storage %s (%" PRId64
                            " elements)", label, name, t->u.tensor.offset, s->u.storage.key, s->u.storage.numel);
    if (numel > s->u.storage.numel)
        return sl_error_set(err, SL_EFORMAT, "%s: tensor %s: a view of %" PRId64 " elements over a storage of %" PRId64
                            " (repeated elements are not supported)", label, name, numel, s->u.storage.numel);
    *numel_out = numel;
    return 0;
}

/* Copies a (possibly strided) view into a new contiguous row-major buffer. */
static void gather(const Val *t, int64_t numel, size_t esize, uint8_t *out)
{
    const Val *canon = t->u.tensor.storage->u.storage.canon;
    const uint8_t *src = canon->u.storage.data;
    int nd = t->u.tensor.ndim;
    bool contiguous = true;
    int64_t expect = 1;
    for (int d = nd - 1; d >= 0; d--) {
        if (t->u.tensor.size[d] != 1 && t->u.tensor.stride[d] != expect)
            contiguous = false;
        expect *= t->u.tensor.size[d];
    }
    if (numel == 0)
        return;
    if (contiguous) {
        memcpy(out, src + (size_t)t->u.tensor.offset * esize, (size_t)numel * esize);
        return;
    }
    int64_t idx[TENSOR_MAX_DIMS] = {0};
    for (int64_t i = 0; i < numel; i++) {
        int64_t off = t->u.tensor.offset;
        for (int d = 0; d < nd; d++)
            off += idx[d] * t->u.tensor.stride[d];
        memcpy(out + (size_t)i * esize, src + (size_t)off * esize, esize);
        for (int d = nd - 1; d >= 0; d--) {
            if (++idx[d] < t->u.tensor.size[d])
                break;
            idx[d] = 0;
        }
    }
}

/* Validates the state dict, reads the storages it uses, builds the tensors. */
static TensorSet *build_tensors(PtZip *z, const Val *root, size_t input_len, SlError *err)
{
    const char *label = z->label;
    TensorSet *ts = NULL;
    Val **storages = NULL;
    char **names = NULL;
    char *entry = NULL;
    if (root->kind != V_DICT) {
        sl_error_set(err, SL_EFORMAT, "%s: the pickle does not hold a state dict (an OrderedDict of tensors)", label);
        return NULL;
    }
    size_t n = root->u.dict.n;
    storages = calloc(n ? n : 1, sizeof *storages);
    names = calloc(n ? n : 1, sizeof *names);
    ts = tensorset_new();
    if (!storages || !names || !ts)
        goto nomem;
    for (size_t i = 0; i < n; i++) {
        const Val *k = root->u.dict.kv[2 * i], *v = root->u.dict.kv[2 * i + 1];
        if (v->kind != V_TENSOR) {
            sl_error_set(err, SL_EFORMAT, "%s: state dict entry %.200s is not a tensor", label, k->u.str.s);
            goto fail;
        }
        storages[i] = v->u.tensor.storage;
        names[i] = k->u.str.s;
    }
    /* Duplicate names, found by sorting (a hostile dict may be large). */
    qsort(names, n, sizeof *names, cmp_name);
    for (size_t i = 1; i < n; i++)
        if (strcmp(names[i - 1], names[i]) == 0) {
            sl_error_set(err, SL_EFORMAT, "%s: tensor %.200s appears twice in the state dict", label, names[i]);
            goto fail;
        }
    /* One storage per key: every reference must agree on type and size. */
    qsort(storages, n, sizeof *storages, cmp_storage_key);
    uint64_t storage_bytes = 0;
    for (size_t i = 0; i < n; i++) {
        Val *s = storages[i];
        if (i && strcmp(storages[i - 1]->u.storage.key, s->u.storage.key) == 0) {
            Val *c = storages[i - 1]->u.storage.canon;
            if (c->u.storage.dtype != s->u.storage.dtype || c->u.storage.numel != s->u.storage.numel) {
                sl_error_set(err, SL_EFORMAT, "%s: storage %s is declared twice with different types or sizes", label,
                             s->u.storage.key);
                goto fail;
            }
            s->u.storage.canon = c;
        } else {
            s->u.storage.canon = s;
            storage_bytes += s->u.storage.nbytes;
        }
    }
    /* Views: inside their storage, and all of them together no more than
     * twice the storages (tied weights), so output is bounded by input. */
    uint64_t out_bytes = 0;
    for (size_t i = 0; i < n; i++) {
        const Val *k = root->u.dict.kv[2 * i], *t = root->u.dict.kv[2 * i + 1];
        int64_t numel = 0;
        if (check_view(label, k->u.str.s, t, &numel, err))
            goto fail;
        out_bytes += (uint64_t)numel * dtype_size(t->u.tensor.storage->u.storage.dtype);
    }
    if (out_bytes > 2 * storage_bytes + 65536) {
        sl_error_set(err, SL_EFORMAT, "%s: the tensors total %" PRIu64 " bytes, more than twice their storages' %" PRIu64,
                     label, out_bytes, storage_bytes);
        goto fail;
    }
    /* Stored entries cannot be larger than the file; compressed ones are
     * bounded by read_entry.  Check the sum before allocating anything. */
    if (storage_bytes > (uint64_t)input_len * PT_MAX_EXPANSION) {
        sl_error_set(err, SL_EFORMAT, "%s: the storages declare %" PRIu64 " bytes; a %zu-byte file cannot hold them", label,
                     storage_bytes, input_len);
        goto fail;
    }
    entry = malloc(strlen(z->prefix) + 32);
    if (!entry)
        goto nomem;
    for (size_t i = 0; i < n; i++) {
        Val *s = storages[i];
        if (s->u.storage.canon != s || s->u.storage.data)
            continue;   /* a duplicate, or the same value met twice */
        s->u.storage.data = malloc(s->u.storage.nbytes ? s->u.storage.nbytes : 1);
        if (!s->u.storage.data)
            goto nomem;
        sprintf(entry, "%sdata/%s", z->prefix, s->u.storage.key);
        if (read_entry(z, entry, s->u.storage.nbytes, s->u.storage.data, err))
            goto fail;
    }
    for (size_t i = 0; i < n; i++) {
        const Val *k = root->u.dict.kv[2 * i], *t = root->u.dict.kv[2 * i + 1];
        DType dt = t->u.tensor.storage->u.storage.dtype;
        Tensor *out = tensorset_add(ts, k->u.str.s, dt, t->u.tensor.ndim, t->u.tensor.size, NULL, err);
        if (!out) {
            sl_error_prefix(err, label);
            goto fail;
        }
        gather(t, (int64_t)(out->nbytes / dtype_size(dt)), dtype_size(dt), out->data);
    }
    goto done;
nomem:
    sl_error_set(err, SL_ENOMEM, "%s: out of memory", label);
fail:
    tensorset_free(ts);
    ts = NULL;
done:
    for (size_t i = 0; storages && i < n; i++)
        if (storages[i] && storages[i]->u.storage.canon == storages[i]) {
            free(storages[i]->u.storage.data);
            storages[i]->u.storage.data = NULL;
        }
    free(entry);
    free(names);
    free(storages);
    return ts;
}

/* Finds the single top-level folder and refuses TorchScript archives. */
static int check_layout(PtZip *z, SlError *err)
{
    zip_int64_t count = zip_get_num_entries(z->za, 0);
    if (count <= 0)
        return sl_error_set(err, SL_EFORMAT, "%s: the ZIP archive is empty", z->label);
    char **all = calloc((size_t)count, sizeof *all);
    if (!all)
        return sl_error_set(err, SL_ENOMEM, "%s: out of memory", z->label);
    int rc = 0;
    for (zip_int64_t i = 0; i < count && !rc; i++) {
        const char *name = zip_get_name(z->za, (zip_uint64_t)i, ZIP_FL_ENC_RAW);
        if (!name) {
            rc = sl_error_set(err, SL_EFORMAT, "%s: ZIP entry %" PRId64 " has no name", z->label, (int64_t)i);
            break;
        }
        all[i] = (char *)name;
        const char *slash = strchr(name, '/');
        if (!slash || slash == name) {
            char p[256];
            printable((const uint8_t *)name, strlen(name), p, sizeof p);
            rc = sl_error_set(err, SL_EFORMAT, "%s: entry '%s' is not inside a top-level folder", z->label, p);
            break;
        }
        size_t plen = (size_t)(slash - name) + 1;
        if (!z->prefix) {
            z->prefix = strndup(name, plen);
            if (!z->prefix)
                rc = sl_error_set(err, SL_ENOMEM, "%s: out of memory", z->label);
        } else if (strlen(z->prefix) != plen || strncmp(z->prefix, name, plen) != 0) {
            char p[256], q[256];
            printable((const uint8_t *)z->prefix, strlen(z->prefix), p, sizeof p);
            printable((const uint8_t *)name, strlen(name), q, sizeof q);
            rc = sl_error_set(err, SL_EFORMAT, "%s: entries sit in more than one top-level folder ('%s' and '%s')", z->label,
                              p, q);
        }
    }
    if (!rc) {
        qsort(all, (size_t)count, sizeof *all, cmp_name);
        for (zip_int64_t i = 1; i < count && !rc; i++)
            if (strcmp(all[i - 1], all[i]) == 0) {
                char p[256];
                printable((const uint8_t *)all[i], strlen(all[i]), p, sizeof p);
                rc = sl_error_set(err, SL_EFORMAT, "%s: entry '%s' appears twice", z->label, p);
            }
    }
    free(all);
    if (rc)
        return rc;
    char name[512];
    snprintf(name, sizeof name, "%sconstants.pkl", z->prefix);
    if (zip_name_locate(z->za, name, ZIP_FL_ENC_RAW) >= 0)
        return sl_error_set(err, SL_EFORMAT, "%s: a TorchScript archive (it holds constants.pkl); sortlens reads only "
                            "torch.save(state_dict) checkpoints", z->label);
    snprintf(name, sizeof name, "%sdata.pkl", z->prefix);
    if (zip_name_locate(z->za, name, ZIP_FL_ENC_RAW) < 0)
        return sl_error_set(err, SL_EFORMAT, "%s: no %s in the archive (not a torch.save checkpoint)", z->label, name);
    snprintf(name, sizeof name, "%sbyteorder", z->prefix);
    zip_int64_t bo = zip_name_locate(z->za, name, ZIP_FL_ENC_RAW);
    if (bo >= 0) {
        zip_stat_t st;
        uint8_t text[16] = {0};
        if (zip_stat_index(z->za, (zip_uint64_t)bo, 0, &st) != 0 || st.size > 8)
            return sl_error_set(err, SL_EFORMAT, "%s: %s is not 'little' or 'big'", z->label, name);
        if (read_entry(z, name, st.size, text, err))
            return SL_EFORMAT;
        if (strcmp((char *)text, "little") != 0)
            return sl_error_set(err, SL_EFORMAT, "%s: %s says '%.8s'; only little-endian checkpoints are supported",
                                z->label, name, (char *)text);
    }
    return 0;
}

/* torch.save before PyTorch 1.6 (or with _use_new_zipfile_serialization=False)
 * wrote a bare pickle starting with a magic number. */
static const uint8_t legacy_magic[14] = {0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19};

bool pt_is_legacy(const uint8_t *buf, size_t len)
{
    return len >= sizeof legacy_magic && memcmp(buf, legacy_magic, sizeof legacy_magic) == 0;
}

TensorSet *pt_parse(const uint8_t *buf, size_t len, const char *label, SlError *err)
{
    if (!label)
        label = "checkpoint";
    if (buf && pt_is_legacy(buf, len)) {
        sl_error_set(err, SL_EFORMAT, "%s: a PyTorch checkpoint in the legacy format (before 1.6, not a ZIP); load it in "
                     "PyTorch and save it again with torch.save, or convert it to safetensors", label);
        return NULL;
    }
    TensorSet *ts = NULL;
    PtZip z = {.label = label};
    Unpickler u = {0};
    uint8_t *pickle = NULL;
    char *pkl_label = NULL;
    static const uint8_t empty[1];
    if (len == 0) {   /* libzip would open nothing as an empty archive */
        sl_error_set(err, SL_EFORMAT, "%s: not a ZIP archive (the file is empty)", label);
        return NULL;
    }
    zip_error_t zerr;
    zip_error_init(&zerr);
    zip_source_t *src = zip_source_buffer_create(buf ? (const void *)buf : empty, len, 0, &zerr);
    if (!src) {
        sl_error_set(err, SL_ENOMEM, "%s: %s", label, zip_error_strerror(&zerr));
        zip_error_fini(&zerr);
        return NULL;
    }
    z.za = zip_open_from_source(src, ZIP_RDONLY | ZIP_CHECKCONS, &zerr);
    if (!z.za) {
        int code = zip_error_code_zip(&zerr);
        if (code == ZIP_ER_NOZIP)
            sl_error_set(err, SL_EFORMAT, "%s: not a ZIP archive, so not a PyTorch checkpoint (%s)", label,
                         zip_error_strerror(&zerr));
        else
            sl_error_set(err, SL_EFORMAT, "%s: a damaged or truncated ZIP archive: %s", label, zip_error_strerror(&zerr));
        zip_source_free(src);
        zip_error_fini(&zerr);
        return NULL;
    }
    zip_error_fini(&zerr);
    if (check_layout(&z, err))
        goto done;

    /* data.pkl, read whole (bounded) before anything is interpreted */
    char name[512];
    snprintf(name, sizeof name, "%sdata.pkl", z.prefix);
    zip_stat_t st;
    zip_stat_init(&st);
    if (zip_stat(z.za, name, ZIP_FL_ENC_RAW, &st) != 0 || !(st.valid & ZIP_STAT_SIZE)) {
        sl_error_set(err, SL_EFORMAT, "%s: %s: %s", label, name, zip_strerror(z.za));
        goto done;
    }
    if (st.size > PT_MAX_PICKLE) {
        sl_error_set(err, SL_EFORMAT, "%s: %s is %" PRIu64 " bytes; at most %u are accepted", label, name, (uint64_t)st.size,
                     PT_MAX_PICKLE);
        goto done;
    }
    pickle = malloc(st.size ? st.size : 1);
    if (!pickle) {
        sl_error_set(err, SL_ENOMEM, "%s: out of memory", label);
        goto done;
    }
    if (read_entry(&z, name, st.size, pickle, err))
        goto done;
    size_t llen = strlen(label) + strlen(name) + 3;
    pkl_label = malloc(llen);
    if (!pkl_label) {
        sl_error_set(err, SL_ENOMEM, "%s: out of memory", label);
        goto done;
    }
    snprintf(pkl_label, llen, "%s: %s", label, name);
    u.memo_seed = memo_new_seed();
    u.p = u.start = pickle;
    u.end = pickle + st.size;
    u.label = pkl_label;
    u.err = err;
    Val *root = NULL;
    if (unpickle(&u, &root))
        goto done;
    ts = build_tensors(&z, root, len, err);
done:
    arena_free(&u.arena);
    free(u.stack);
    free(u.marks);
    free(u.memo);
    free(pkl_label);
    free(pickle);
    free(z.prefix);
    zip_discard(z.za);   /* also frees the source */
    return ts;
}

TensorSet *pt_read(const char *path, SlError *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        sl_error_set(err, SL_EIO, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || (uint64_t)sb.st_size > SIZE_MAX / 2) {
        close(fd);
        sl_error_set(err, SL_EIO, "%s: not a regular file of a readable size", path);
        return NULL;
    }
    size_t size = (size_t)sb.st_size, got = 0;
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf) {
        close(fd);
        sl_error_set(err, SL_ENOMEM, "%s: cannot allocate %zu bytes to read it", path, size);
        return NULL;
    }
    while (got < size) {
        ssize_t r = read(fd, buf + got, size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            sl_error_set(err, SL_EIO, "%s: read failed: %s", path, strerror(errno));
            free(buf);
            close(fd);
            return NULL;
        }
        if (r == 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    TensorSet *ts = pt_parse(buf, got, path, err);
    free(buf);
    return ts;
}
