/* pt.c: the .pt ZIP and storage layer: read torch.save(state_dict)
 * checkpoints without executing anything.
 *
 * The file is a ZIP (read with libzip, from the file or from memory) whose
 * entries all sit under one top-level folder: FOLDER/data.pkl holds the
 * pickle of the state dict, FOLDER/data/<key> the raw little-endian
 * storages.  The pickle machine (pickle.c) turns data.pkl into inert
 * values; then every tensor view is validated against its storage's
 * declared size, and only then are storages read, each exactly as large as
 * the pickle declares, after their sum is checked against the file's size.
 * Every allocation is bounded by the input's size (storages: by the entry's
 * size, with compressed entries limited to deflate's largest possible
 * expansion).
 */
#include "sortlens/pt.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zip.h>

#include "pickle.h"
#include "sortlens/file_read.h"

#define PT_MAX_PICKLE (64u << 20)     /* data.pkl bytes */
/* Deflate expands at most about 1032:1; anything beyond is not a deflate
 * stream we should trust, and the bound keeps allocation linear in the input. */
#define PT_MAX_EXPANSION 1040u

typedef struct PtZip {
    zip_t *za;
    const char *label;
    char *prefix;     /* the top-level folder, with its trailing '/' */
    uint64_t size;    /* of the whole archive */
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

/* Checks, before anything is allocated for it, that an entry holds exactly
 * `expect` bytes: refuses a different size, encryption, compressed data
 * larger than the archive, or an expansion ratio no deflate stream has. */
static int check_entry(PtZip *z, const char *name, uint64_t expect, zip_int64_t *idx_out, SlError *err)
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
    uint64_t stored = (st.valid & ZIP_STAT_COMP_SIZE) ? st.comp_size : st.size;
    if (stored > z->size)
        return sl_error_set(err, SL_EFORMAT, "%s: entry %s declares %" PRIu64 " bytes; the archive holds %" PRIu64,
                            z->label, name, stored, z->size);
    *idx_out = idx;
    return 0;
}

/* Reads an entry of exactly `expect` bytes (check_entry) into out. */
static int read_entry(PtZip *z, const char *name, uint64_t expect, uint8_t *out, SlError *err)
{
    zip_int64_t idx;
    int rc = check_entry(z, name, expect, &idx, err);
    if (rc)
        return rc;
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
    int64_t idx[SL_TENSOR_MAX_DIMS] = {0};
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
static SlTensorSet *build_tensors(PtZip *z, const Val *root, uint64_t input_len, SlError *err)
{
    const char *label = z->label;
    SlTensorSet *ts = NULL;
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
    ts = sl_tensorset_new();
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
        out_bytes += (uint64_t)numel * sl_dtype_size(t->u.tensor.storage->u.storage.dtype);
    }
    if (out_bytes > 2 * storage_bytes + 65536) {
        sl_error_set(err, SL_EFORMAT, "%s: the tensors total %" PRIu64 " bytes, more than twice their storages' %" PRIu64,
                     label, out_bytes, storage_bytes);
        goto fail;
    }
    /* Stored entries cannot be larger than the file; compressed ones are
     * bounded by read_entry.  Check the sum before allocating anything. */
    if (storage_bytes / PT_MAX_EXPANSION > input_len) {
        sl_error_set(err, SL_EFORMAT, "%s: the storages declare %" PRIu64 " bytes; a %" PRIu64 "-byte file cannot hold them",
                     label, storage_bytes, input_len);
        goto fail;
    }
    entry = malloc(strlen(z->prefix) + 32);
    if (!entry)
        goto nomem;
    for (size_t i = 0; i < n; i++) {
        Val *s = storages[i];
        if (s->u.storage.canon != s || s->u.storage.data)
            continue;   /* a duplicate, or the same value met twice */
        sprintf(entry, "%sdata/%s", z->prefix, s->u.storage.key);
        zip_int64_t idx;
        if (check_entry(z, entry, s->u.storage.nbytes, &idx, err))
            goto fail;
        s->u.storage.data = malloc(s->u.storage.nbytes ? s->u.storage.nbytes : 1);
        if (!s->u.storage.data)
            goto nomem;
        if (read_entry(z, entry, s->u.storage.nbytes, s->u.storage.data, err))
            goto fail;
    }
    for (size_t i = 0; i < n; i++) {
        const Val *k = root->u.dict.kv[2 * i], *t = root->u.dict.kv[2 * i + 1];
        SlDType dt = t->u.tensor.storage->u.storage.dtype;
        SlTensor *out = sl_tensorset_add(ts, k->u.str.s, dt, t->u.tensor.ndim, t->u.tensor.size, NULL, err);
        if (!out) {
            sl_error_prefix(err, label);
            goto fail;
        }
        gather(t, (int64_t)(out->nbytes / sl_dtype_size(dt)), sl_dtype_size(dt), out->data);
    }
    goto done;
nomem:
    sl_error_set(err, SL_ENOMEM, "%s: out of memory", label);
fail:
    sl_tensorset_free(ts);
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
            rc = sl_error_set(err, SL_EFORMAT, "%s: entry '%.60s' is not inside a top-level folder", z->label, name);
            break;
        }
        size_t plen = (size_t)(slash - name) + 1;
        if (!z->prefix) {
            z->prefix = strndup(name, plen);
            if (!z->prefix)
                rc = sl_error_set(err, SL_ENOMEM, "%s: out of memory", z->label);
        } else if (strlen(z->prefix) != plen || strncmp(z->prefix, name, plen) != 0) {
            rc = sl_error_set(err, SL_EFORMAT, "%s: entries sit in more than one top-level folder ('%.60s' and '%.60s')",
                              z->label, z->prefix, name);
        }
    }
    if (!rc) {
        qsort(all, (size_t)count, sizeof *all, cmp_name);
        for (zip_int64_t i = 1; i < count && !rc; i++)
            if (strcmp(all[i - 1], all[i]) == 0)
                rc = sl_error_set(err, SL_EFORMAT, "%s: entry '%.60s' appears twice", z->label, all[i]);
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

bool sl_pt_is_legacy(const uint8_t *buf, size_t len)
{
    return len >= sizeof legacy_magic && memcmp(buf, legacy_magic, sizeof legacy_magic) == 0;
}

/* Opens the archive from src (taken over, freed on every path) of len
 * bytes and reads the state dict. */
static SlTensorSet *pt_from_source(zip_source_t *src, uint64_t len, const char *label, SlError *err)
{
    SlTensorSet *ts = NULL;
    PtZip z = {.label = label, .size = len};
    PickleArena arena = {0};
    uint8_t *pickle = NULL;
    char *pkl_label = NULL;
    zip_error_t zerr;
    zip_error_init(&zerr);
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
    zip_int64_t idx;
    if (check_entry(&z, name, st.size, &idx, err))
        goto done;
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
    Val *root = NULL;
    if (pickle_load(pickle, st.size, pkl_label, &arena, &root, err))
        goto done;
    ts = build_tensors(&z, root, len, err);
done:
    pickle_arena_free(&arena);
    free(pkl_label);
    free(pickle);
    free(z.prefix);
    zip_discard(z.za);   /* also frees the source */
    return ts;
}

static SlTensorSet *refuse_legacy(const char *label, SlError *err)
{
    sl_error_set(err, SL_EFORMAT, "%s: a PyTorch checkpoint in the legacy format (before 1.6, not a ZIP); load it in "
                 "PyTorch and save it again with torch.save, or convert it to safetensors", label);
    return NULL;
}

SlTensorSet *sl_pt_parse(const uint8_t *buf, size_t len, const char *label, SlError *err)
{
    if (!label)
        label = "checkpoint";
    if (buf && sl_pt_is_legacy(buf, len))
        return refuse_legacy(label, err);
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
    zip_error_fini(&zerr);
    return pt_from_source(src, len, label, err);
}

/* libzip reads the central directory and then only the entries asked for,
 * from the file itself: nothing is read whole, and every size is checked
 * (build_tensors, read_entry) before anything is allocated for it. */
SlTensorSet *sl_pt_read_file(const SlFile *f, SlError *err)
{
    const char *label = f->path;
    uint8_t magic[sizeof legacy_magic];
    size_t head = f->size < sizeof magic ? (size_t)f->size : sizeof magic;
    if (sl_file_read_at(f, 0, magic, head, err))
        return NULL;
    if (sl_pt_is_legacy(magic, head))
        return refuse_legacy(label, err);
    if (f->size == 0) {
        sl_error_set(err, SL_EFORMAT, "%s: not a ZIP archive (the file is empty)", label);
        return NULL;
    }
    /* libzip reads through its own FILE on a duplicate of the descriptor
     * (the caller's stays open; pread elsewhere never moves the offset) */
    int fd = dup(f->fd);
    FILE *fp = fd >= 0 ? fdopen(fd, "rb") : NULL;
    if (!fp) {
        if (fd >= 0)
            close(fd);
        sl_error_set(err, SL_EIO, "%s: cannot open: %s", label, strerror(errno));
        return NULL;
    }
    zip_error_t zerr;
    zip_error_init(&zerr);
    zip_source_t *src = zip_source_filep_create(fp, 0, (zip_int64_t)f->size, &zerr);
    if (!src) {
        sl_error_set(err, SL_ENOMEM, "%s: %s", label, zip_error_strerror(&zerr));
        zip_error_fini(&zerr);
        fclose(fp);
        return NULL;
    }
    zip_error_fini(&zerr);
    return pt_from_source(src, f->size, label, err);
}

SlTensorSet *sl_pt_read(const char *path, SlError *err)
{
    SlFile f;
    if (sl_file_open(&f, path, err))
        return NULL;
    SlTensorSet *ts = sl_pt_read_file(&f, err);
    sl_file_close(&f);
    return ts;
}
