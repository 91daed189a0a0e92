/* pickle.c: the pickle machine (what it accepts and why: pickle.h and
 * docs/SECURITY.md).  Protocols 2 to 5: torch.save writes protocol 2 by
 * default, and protocol 4 or 5 with pickle_protocol=N, which adds framing
 * (FRAME), short and 8-byte strings, MEMOIZE and STACK_GLOBAL.
 *
 * Longer than 600 lines because it is one concern: each opcode's checks and
 * refusals stand beside its action (in op_* by group, which unpickle
 * dispatches), and splitting the file would put a hostile-input check away
 * from the code it guards. */
#include "pickle.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "byteorder.h"
#include "hash.h"
#include "sortlens/utf8.h"

/* Limits for hostile pickles; a real state dict is far below each. */
#define PT_MAX_STACK 65536            /* values on the stack */
#define PT_MAX_MARKS 4096             /* open MARKs */
#define PT_MAX_MEMO (1u << 20)        /* memo entries */
#define PT_MAX_STRING (1u << 20)      /* one string or bytes value */

struct PickleChunk { PickleChunk *next; size_t used, size; max_align_t data[]; };

static void *arena_alloc(PickleArena *a, size_t n)
{
    n = (n + sizeof(max_align_t) - 1) / sizeof(max_align_t) * sizeof(max_align_t);
    if (!a->head || a->head->size - a->head->used < n) {
        size_t size = n > 65536 ? n : 65536;
        PickleChunk *c = malloc(sizeof *c + size);
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

void pickle_arena_free(PickleArena *a)
{
    while (a->head) {
        PickleChunk *next = a->head->next;
        free(a->head);
        a->head = next;
    }
}

/* ---- the allowlist ----------------------------------------------------------- */

/* The globals a state dict's pickle may name: three functions, and
 * torch's storage class of each dtype (storage_name below). */
static const struct {
    const char *module, *name;
    GlobalKind kind;
} allowlist[] = {
    {"collections", "OrderedDict", G_ORDERED_DICT},
    {"torch._utils", "_rebuild_tensor_v2", G_REBUILD_TENSOR_V2},
    {"torch._utils", "_rebuild_parameter", G_REBUILD_PARAMETER},
};

/* torch.<name> of the storage that holds each dtype */
static const char *const storage_name[SL_DT_COUNT] = {
    [SL_DT_F32] = "FloatStorage", [SL_DT_F64] = "DoubleStorage", [SL_DT_F16] = "HalfStorage",
    [SL_DT_BF16] = "BFloat16Storage", [SL_DT_I64] = "LongStorage", [SL_DT_I32] = "IntStorage",
    [SL_DT_I16] = "ShortStorage", [SL_DT_I8] = "CharStorage", [SL_DT_U8] = "ByteStorage",
    [SL_DT_BOOL] = "BoolStorage",
};

/* ---- the interpreter ----------------------------------------------------------- */

typedef struct MemoEntry { uint32_t key; bool used; Val *val; } MemoEntry;

typedef struct Unpickler {
    const uint8_t *p, *end, *start;
    const char *label;       /* "FILE: FOLDER/data.pkl" */
    SlError *err;
    PickleArena *arena;
    Val **stack;
    size_t sp, stack_cap;
    size_t *marks;
    size_t nmarks, marks_cap;
    MemoEntry *memo;          /* open addressing, capacity a power of two */
    size_t memo_count, memo_cap;
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
    Val *v = arena_alloc(u->arena, sizeof *v);
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

/* Memo indices are chosen by the file: hashed with the keyed hash, so that
 * no pickle can put them all in one chain. */
static MemoEntry *memo_slot(MemoEntry *tab, size_t cap, uint32_t key)
{
    size_t i = (size_t)sl_hash(&key, sizeof key) & (cap - 1);
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
                *memo_slot(tab, cap, u->memo[i].key) = u->memo[i];
        free(u->memo);
        u->memo = tab;
        u->memo_cap = cap;
    }
    MemoEntry *e = memo_slot(u->memo, u->memo_cap, key);
    if (!e->used)
        u->memo_count++;
    e->used = true;
    e->key = key;
    e->val = u->stack[u->sp - 1];
    return 0;
}

static int memo_get(Unpickler *u, uint32_t key)
{
    MemoEntry *e = u->memo_cap ? memo_slot(u->memo, u->memo_cap, key) : NULL;
    if (!e || !e->used)
        return fail(u, "memo slot %" PRIu32 " read before it was set", key);
    return push(u, e->val);
}

/* Whether the len bytes at p are the string s. */
static bool text_is(const char *s, const uint8_t *p, size_t len)
{
    return strlen(s) == len && memcmp(s, p, len) == 0;
}

/* Pushes the allowlisted global module.name, or refuses it; op names the
 * opcode (GLOBAL or STACK_GLOBAL) for the message. */
static int push_global(Unpickler *u, const char *op, const uint8_t *module, size_t mlen, const uint8_t *name, size_t nlen)
{
    GlobalKind kind = G_STORAGE;
    SlDType dtype = SL_DT_F32;
    const char *known = NULL;   /* the allowlist's spelling of name */
    for (size_t i = 0; i < sizeof allowlist / sizeof allowlist[0] && !known; i++)
        if (text_is(allowlist[i].module, module, mlen) && text_is(allowlist[i].name, name, nlen)) {
            known = allowlist[i].name;
            kind = allowlist[i].kind;
        }
    const bool torch = !known && text_is("torch", module, mlen);
    for (int d = 0; d < SL_DT_COUNT && torch && !known; d++)
        if (storage_name[d] && text_is(storage_name[d], name, nlen)) {
            known = storage_name[d];
            dtype = (SlDType)d;
        }
    if (known) {
        Val *v = new_val(u, V_GLOBAL);
        if (v) {
            v->u.global.kind = kind;
            v->u.global.dtype = dtype;
            v->u.global.name = known;
        }
        return push(u, v);
    }
    /* the message escapes whatever bytes the names hold (error.c) */
    return fail(u, "%s %.*s.%.*s is not allowed (a state dict needs only OrderedDict, _rebuild_tensor_v2, "
                "_rebuild_parameter and storage types)", op, (int)(mlen < 60 ? mlen : 60), (const char *)module,
                (int)(nlen < 60 ? nlen : 60), (const char *)name);
}

/* GLOBAL: "module\nname\n" inline */
static int op_global(Unpickler *u)
{
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
    return push_global(u, "GLOBAL", parts[0], lens[0], parts[1], lens[1]);
}

/* STACK_GLOBAL (protocol 4): module and name are the two strings on top of
 * the stack, under the same allowlist. */
static int op_stack_global(Unpickler *u)
{
    int rc = need_stack(u, 2, "STACK_GLOBAL");
    if (rc)
        return rc;
    Val *name = u->stack[--u->sp], *module = u->stack[--u->sp];
    if (module->kind != V_STR || name->kind != V_STR)
        return fail(u, "STACK_GLOBAL on something that is not two strings");
    return push_global(u, "STACK_GLOBAL", (const uint8_t *)module->u.str.s, module->u.str.len,
                       (const uint8_t *)name->u.str.s, name->u.str.len);
}

static int make_tuple(Unpickler *u, size_t base)
{
    size_t n = u->sp - base;
    Val *t = new_val(u, V_TUPLE);
    if (!t)
        return nomem(u);
    if (n) {
        t->u.tup.items = arena_alloc(u->arena, n * sizeof(Val *));
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
        Val **kv = arena_alloc(u->arena, 2 * cap * sizeof(Val *));
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

/* For SETITEMS and ADDITEMS: pops the innermost MARK (the items start at
 * *base) and finds the dict or set just below it. */
static int container_below_mark(Unpickler *u, const char *op, VKind kind, size_t *base, Val **out)
{
    const char *what = kind == V_DICT ? "dict" : "set";
    int rc = mark_base(u, op, base);
    if (rc)
        return rc;
    if (*base == 0 || (u->nmarks && u->marks[u->nmarks - 1] >= *base))
        return fail(u, "%s with no %s below its MARK", op, what);
    *out = u->stack[*base - 1];
    if ((*out)->kind != kind)
        return fail(u, "%s on something that is not a %s", op, what);
    return 0;
}

/* Sets are inert: items are kept (nothing in a state dict reads them) and
 * never hashed or compared, so a hostile set costs only its length. */
static int set_append(Unpickler *u, Val *set, Val *item)
{
    if (set->u.set.n == set->u.set.cap) {
        size_t cap = set->u.set.cap ? 2 * set->u.set.cap : 8;
        Val **items = arena_alloc(u->arena, cap * sizeof(Val *));
        if (!items)
            return nomem(u);
        if (set->u.set.n)
            memcpy(items, set->u.set.items, set->u.set.n * sizeof(Val *));
        set->u.set.items = items;
        set->u.set.cap = cap;
    }
    set->u.set.items[set->u.set.n++] = item;
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
    if (a[2]->u.tup.n > SL_TENSOR_MAX_DIMS)
        return fail(u, "_rebuild_tensor_v2: %zu dimensions; at most %d are supported", a[2]->u.tup.n, SL_TENSOR_MAX_DIMS);
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
    if (!decimal)
        return fail(u, "storage key '%.60s' is not a plain decimal number", key);
    int64_t numel = a[4]->u.i;
    size_t esize = sl_dtype_size(a[1]->u.global.dtype);
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

/* A string (V_STR: UTF-8 without NUL, since names become C strings) or a
 * bytes value (V_BYTES: anything) of n bytes from the pickle. */
static int read_string(Unpickler *u, uint64_t n, VKind kind)
{
    const uint8_t *s;
    const char *what = kind == V_STR ? "string" : "bytes value";
    if (n > (uint64_t)(u->end - u->p))
        return fail(u, "a %s of %" PRIu64 " bytes runs past the end of the pickle", what, n);
    if (n > PT_MAX_STRING)
        return fail(u, "a %s of %" PRIu64 " bytes; names longer than %u bytes are refused", what, n, PT_MAX_STRING);
    take(u, (size_t)n, &s);
    if (kind == V_STR && !sl_utf8_valid(s, (size_t)n, false))
        return fail(u, "a string is not valid UTF-8 (or holds a NUL)");
    Val *v = new_val(u, kind);
    if (!v)
        return nomem(u);
    v->u.str.s = arena_alloc(u->arena, (size_t)n + 1);
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

/* The opcodes followed by a fixed-size little-endian argument (BINFLOAT's
 * is big-endian and read from the bytes themselves; LONG1's first byte is
 * the length of the rest). */
static const struct { uint8_t op, bytes; const char *name; } fixed_args[] = {
    {0x80, 1, "PROTO"}, {'q', 1, "BINPUT"}, {'r', 4, "LONG_BINPUT"}, {'h', 1, "BINGET"}, {'j', 4, "LONG_BINGET"},
    {'X', 4, "BINUNICODE"}, {0x8c, 1, "SHORT_BINUNICODE"}, {0x8d, 8, "BINUNICODE8"}, {'C', 1, "SHORT_BINBYTES"},
    {'B', 4, "BINBYTES"}, {0x8e, 8, "BINBYTES8"}, {0x95, 8, "FRAME"}, {'J', 4, "BININT"}, {'K', 1, "BININT1"},
    {'M', 2, "BININT2"}, {0x8a, 1, "LONG1"}, {'G', 8, "BINFLOAT"},
};

/* ---- the opcodes, by group (unpickle dispatches) ---------------------------- */

/* MARK: the stack's height, for the opcode that closes it. */
static int op_mark(Unpickler *u)
{
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
    return 0;
}

/* TUPLE (everything above the mark), TUPLE1..3 (n = 1..3 values). */
static int op_tuple(Unpickler *u, uint8_t op)
{
    size_t base = 0;
    int rc;
    if (op == 't')
        rc = mark_base(u, "TUPLE", &base);
    else if (!(rc = need_stack(u, (size_t)(op - 0x84), "TUPLEn")))
        base = u->sp - (size_t)(op - 0x84);
    return rc ? rc : make_tuple(u, base);
}

/* ADDITEMS (into the set below the mark) and FROZENSET (a new set of what
 * is above the mark). */
static int op_set_items(Unpickler *u, uint8_t op)
{
    size_t base = 0;
    Val *set = NULL;
    int rc = op == 0x90 ? container_below_mark(u, "ADDITEMS", V_SET, &base, &set) : mark_base(u, "FROZENSET", &base);
    if (rc)
        return rc;
    if (op == 0x91 && !(set = new_val(u, V_SET)))
        return nomem(u);
    for (size_t i = base; !rc && i < u->sp; i++)
        rc = set_append(u, set, u->stack[i]);
    u->sp = base;
    if (!rc && op == 0x91)
        rc = push(u, set);
    return rc;
}

/* LONG1: n bytes of little-endian two's complement. */
static int op_long1(Unpickler *u, size_t n)
{
    const uint8_t *b;
    if (n > 8)
        return fail(u, "LONG1 of %zu bytes does not fit in 64 bits", n);
    if (!take(u, n, &b))
        return fail(u, "LONG1 runs past the end");
    uint64_t v = 0;
    for (size_t k = 0; k < n; k++)
        v |= (uint64_t)b[k] << (8 * k);
    if (n && n < 8 && (b[n - 1] & 0x80))
        v |= ~(uint64_t)0 << (8 * n);   /* sign-extend */
    return push(u, int_val(u, (int64_t)v));
}

/* NEWTRUE, NEWFALSE. */
static int op_bool(Unpickler *u, bool value)
{
    Val *v = new_val(u, V_BOOL);
    if (v)
        v->u.b = value;
    return push(u, v);
}

/* BINFLOAT: 8-byte big-endian double (b: its 8 bytes). */
static int op_binfloat(Unpickler *u, const uint8_t *b)
{
    uint64_t bits = 0;
    for (int k = 0; k < 8; k++)
        bits = bits << 8 | b[k];
    Val *v = new_val(u, V_FLOAT);
    if (v)
        memcpy(&v->u.f, &bits, 8);
    return push(u, v);
}

/* SETITEM (one key and value) and SETITEMS (pairs above the mark) into the
 * dict below them. */
static int op_set_dict_items(Unpickler *u, uint8_t op)
{
    int rc;
    if (op == 's') {
        if ((rc = need_stack(u, 3, "SETITEM")))
            return rc;
        Val *v = u->stack[--u->sp], *k = u->stack[--u->sp], *d = u->stack[u->sp - 1];
        if (d->kind != V_DICT)
            return fail(u, "SETITEM on something that is not a dict");
        return dict_append(u, d, k, v);
    }
    size_t base = 0;
    Val *d = NULL;
    if ((rc = container_below_mark(u, "SETITEMS", V_DICT, &base, &d)))
        return rc;
    if ((u->sp - base) % 2)
        return fail(u, "SETITEMS with an odd number of values (%zu)", u->sp - base);
    for (size_t i = base; !rc && i < u->sp; i += 2)
        rc = dict_append(u, d, u->stack[i], u->stack[i + 1]);
    u->sp = base;
    return rc;
}

/* BUILD: the state dict's _metadata; inert, ignored. */
static int op_build(Unpickler *u)
{
    int rc = need_stack(u, 2, "BUILD");
    if (rc)
        return rc;
    Val *state = u->stack[--u->sp], *obj = u->stack[u->sp - 1];
    if (obj->kind != V_DICT || state->kind != V_DICT)
        return fail(u, "BUILD on something other than a dict, or with a state that is not a dict");
    return 0;
}

/* STOP: one value left, no open mark, nothing after it. */
static int op_stop(Unpickler *u, Val **out)
{
    if (u->nmarks)
        return fail(u, "STOP with an open MARK");
    if (u->sp != 1)
        return fail(u, u->sp ? "STOP with %zu values on the stack; expected one" : "STOP with an empty stack", u->sp);
    if (u->p != u->end)
        return fail(u, "%zu bytes after STOP", (size_t)(u->end - u->p));
    *out = u->stack[0];
    return 0;
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
        /* the opcode's fixed-size argument, taken and read once here */
        uint64_t arg = 0;
        for (size_t i = 0; i < sizeof fixed_args / sizeof fixed_args[0]; i++)
            if (fixed_args[i].op == op) {
                if (!take(u, fixed_args[i].bytes, &b))
                    return fail(u, "%s runs past the end", fixed_args[i].name);
                arg = sl_read_le(b, fixed_args[i].bytes);
                break;
            }
        switch (op) {
        case 0x80: /* PROTO */
            if (arg < 2 || arg > 5)
                return fail(u, "pickle protocol %d is not supported", (int)arg);
            break;
        case 'c': rc = op_global(u); break;
        case 'q': case 'r': rc = memo_put(u, (uint32_t)arg); break;   /* BINPUT, LONG_BINPUT */
        case 'h': case 'j': rc = memo_get(u, (uint32_t)arg); break;   /* BINGET, LONG_BINGET */
        case ')': rc = push(u, new_val(u, V_TUPLE)); break;
        case '}': rc = push(u, new_val(u, V_DICT)); break;
        case '(': rc = op_mark(u); break;
        case 't': case 0x85: case 0x86: case 0x87: rc = op_tuple(u, op); break;   /* TUPLE, TUPLE1..3 */
        case 'X': case 0x8c: case 0x8d: /* BINUNICODE, SHORT_BINUNICODE, BINUNICODE8 */
            rc = read_string(u, arg, V_STR);
            break;
        case 'B': case 'C': case 0x8e: /* BINBYTES, SHORT_BINBYTES, BINBYTES8 */
            rc = read_string(u, arg, V_BYTES);
            break;
        case 0x95: /* FRAME: the length of the next frame, a hint for buffered readers */
            if (arg > (uint64_t)(u->end - u->p))
                return fail(u, "a frame of %" PRIu64 " bytes runs past the end of the pickle", arg);
            break;
        case 0x94: /* MEMOIZE: memo[number of memo entries] = top */
            rc = memo_put(u, (uint32_t)u->memo_count);
            break;
        case 0x93: rc = op_stack_global(u); break;
        case 0x8f: rc = push(u, new_val(u, V_SET)); break;   /* EMPTY_SET */
        case 0x90: case 0x91: rc = op_set_items(u, op); break;   /* ADDITEMS, FROZENSET */
        case 'J': rc = push(u, int_val(u, (int32_t)(uint32_t)arg)); break;   /* BININT: 4-byte signed */
        case 'K': case 'M': rc = push(u, int_val(u, (int64_t)arg)); break;   /* BININT1, BININT2: unsigned */
        case 0x8a: rc = op_long1(u, (size_t)arg); break;
        case 0x88: case 0x89: rc = op_bool(u, op == 0x88); break;   /* NEWTRUE, NEWFALSE */
        case 'G': rc = op_binfloat(u, b); break;
        case 'Q': rc = op_binpersid(u); break;
        case 'R': rc = op_reduce(u); break;
        case 's': case 'u': rc = op_set_dict_items(u, op); break;   /* SETITEM, SETITEMS */
        case 'b': rc = op_build(u); break;
        case '.': return op_stop(u, out);
        default:
            return fail(u, "opcode 0x%02x is not one a state dict uses", op);
        }
        if (rc)
            return rc;
    }
}

int pickle_load(const uint8_t *buf, size_t len, const char *label, PickleArena *arena, Val **root, SlError *err)
{
    static const uint8_t empty[1];
    Unpickler u = {
        .p = buf ? buf : empty, .start = buf ? buf : empty, .end = (buf ? buf : empty) + len,
        .label = label, .err = err, .arena = arena,
    };
    int rc = unpickle(&u, root);
    free(u.stack);
    free(u.marks);
    free(u.memo);
    return rc;
}
