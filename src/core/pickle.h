/* pickle.h: the pickle machine: runs the data.pkl of a torch.save state dict
 * into inert values, executing nothing (internal to the core; the .pt ZIP
 * and storage layer in pt.c is its only user).
 *
 * It knows only the opcodes torch.save emits for a state dict, in pickle
 * protocols 2 to 5: GLOBAL and STACK_GLOBAL look names up in an exact
 * allowlist and yield a token; REDUCE "calls" only the allowlisted
 * constructors (OrderedDict, _rebuild_tensor_v2, _rebuild_parameter) by
 * building a record; BINPERSID makes a storage record.  Every length is
 * checked against the buffer, the memo is a hash map (an index never sizes
 * an array), stack and memo sizes are capped, and nothing recurses over
 * values.  docs/SECURITY.md lists what is accepted and refused. */
#ifndef SORTLENS_PICKLE_H
#define SORTLENS_PICKLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sortlens/tensor.h"

typedef enum { V_NONE, V_BOOL, V_INT, V_FLOAT, V_STR, V_BYTES, V_TUPLE, V_SET, V_DICT, V_GLOBAL, V_STORAGE, V_TENSOR } VKind;

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
        struct { char *s; size_t len; } str;        /* V_STR (NUL-terminated) and V_BYTES */
        struct { Val **items; size_t n; } tup;      /* V_TUPLE */
        struct { Val **items; size_t n, cap; } set; /* V_SET: a set or frozenset, inert (never hashed) */
        struct { Val **kv; size_t n, cap; } dict;   /* kv[2i] key, kv[2i+1] value */
        struct { GlobalKind kind; SlDType dtype; const char *name; } global;
        struct {
            SlDType dtype;
            const char *key;
            int64_t numel;
            Val *canon;         /* the first storage with this key (set by pt.c) */
            uint8_t *data;      /* loaded bytes (canonical storage only; pt.c) */
            size_t nbytes;
        } storage;
        struct {
            Val *storage;
            int64_t offset;
            int ndim;
            int64_t size[SL_TENSOR_MAX_DIMS], stride[SL_TENSOR_MAX_DIMS];
        } tensor;
    } u;
};

/* Everything the machine builds lives in one arena, freed at once, so that
 * shared and even cyclic values (a dict put into itself through the memo)
 * need no reference counting and no recursion to free. */
typedef struct PickleChunk PickleChunk;
typedef struct PickleArena { PickleChunk *head; } PickleArena;

void pickle_arena_free(PickleArena *a);

/* Runs the pickle buf[0..len).  On success returns 0 and *root is the value
 * left at STOP, allocated in *arena (free it with pickle_arena_free, also
 * after a failure).  Messages start "LABEL: byte N: ". */
int pickle_load(const uint8_t *buf, size_t len, const char *label, PickleArena *arena, Val **root, SlError *err);

#endif
