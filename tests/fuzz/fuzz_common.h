/* fuzz_common.h: the checks every fuzz target makes on what a loader
 * returned, beyond "did not crash".  A failed check calls abort(), which
 * libFuzzer and the replay main both report as a crash. */
#ifndef SORTLENS_FUZZ_COMMON_H
#define SORTLENS_FUZZ_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "sortlens/file_read.h"
#include "sortlens/model.h"
#include "sortlens/tensor.h"

#define FUZZ_CHECK(cond, ...)                                            \
    do {                                                                 \
        if (!(cond)) {                                                   \
            fprintf(stderr, "fuzz check failed: %s: ", #cond);           \
            fprintf(stderr, __VA_ARGS__);                                \
            fputc('\n', stderr);                                         \
            abort();                                                     \
        }                                                                \
    } while (0)

/* A refusal must carry a negative code and a one-line message (the
 * project's rule: every malformed input is refused with a message), and
 * must not be for lack of memory. */
static inline void fuzz_check_refusal(const SlError *err)
{
    FUZZ_CHECK(err->code < 0, "code %d", err->code);
    /* inputs are small, so running out of memory means an allocation was
     * sized from a number in the file instead of from its size */
    FUZZ_CHECK(err->code != SL_ENOMEM, "out of memory: %s", err->message);
    FUZZ_CHECK(err->message[0] != '\0', "empty message");
    FUZZ_CHECK(memchr(err->message, '\0', sizeof err->message) != NULL, "message not terminated");
    /* one line, and nothing that could drive the terminal it is printed on */
    for (const char *p = err->message; *p; p++)
        FUZZ_CHECK((unsigned char)*p >= 0x20 && *p != 0x7f, "control byte 0x%02x in the message: %s",
                   (unsigned char)*p, err->message);
}

/* Checks that a SlTensorSet is internally consistent and touches every byte
 * it claims to own, so that ASan/valgrind see any short allocation.
 * Returns the total data bytes. */
static inline size_t fuzz_check_tensorset(const SlTensorSet *ts)
{
    size_t total = 0;
    unsigned sum = 0;
    FUZZ_CHECK(ts->count >= 0 && ts->count <= ts->capacity, "count %d capacity %d", ts->count, ts->capacity);
    for (int i = 0; i < ts->count; i++) {
        const SlTensor *t = &ts->items[i];
        FUZZ_CHECK(t->name != NULL, "tensor %d has no name", i);
        FUZZ_CHECK((unsigned)t->dtype < SL_DT_COUNT, "%s: dtype %d", t->name, (int)t->dtype);
        FUZZ_CHECK(t->ndim >= 0 && t->ndim <= SL_TENSOR_MAX_DIMS, "%s: ndim %d", t->name, t->ndim);
        int64_t numel = sl_shape_numel(t->ndim, t->shape, sl_dtype_size(t->dtype));
        FUZZ_CHECK(numel >= 0, "%s: bad shape", t->name);
        FUZZ_CHECK((size_t)numel * sl_dtype_size(t->dtype) == t->nbytes, "%s: %zu bytes for %lld elements",
                   t->name, t->nbytes, (long long)numel);
        FUZZ_CHECK(t->nbytes == 0 || t->data != NULL, "%s: no data", t->name);
        const uint8_t *p = t->data;
        for (size_t k = 0; k < t->nbytes; k++)
            sum += p[k];
        FUZZ_CHECK(sl_tensorset_find(ts, t->name) == t, "%s: appears twice", t->name);
        total += t->nbytes;
    }
    for (int i = 0; i < ts->meta_count; i++) {
        FUZZ_CHECK(ts->meta_keys[i] && ts->meta_values[i], "metadata %d is NULL", i);
        sum += (unsigned)strlen(ts->meta_keys[i]) + (unsigned)strlen(ts->meta_values[i]);
    }
    /* keep the reads from being optimised away */
    volatile unsigned sink = sum;
    (void)sink;
    return total;
}

/* A model that loaded must satisfy its own validation and be writable. */
static inline void fuzz_check_model(const SlModel *m)
{
    SlError err = {0};
    FUZZ_CHECK(sl_model_config_validate(&m->cfg, &err) == 0, "loaded an invalid config: %s", err.message);
    FUZZ_CHECK(m->tables != NULL, "no circuit tables");
    SlTensorSet *out = sl_model_to_tensors(m, &err);
    FUZZ_CHECK(out != NULL, "cannot convert back: %s", err.message);
    fuzz_check_tensorset(out);
    sl_tensorset_free(out);
}

/* Loads a model from the tensors a loader returned, checking either the
 * model or the refusal. */
static inline void fuzz_try_model(const SlTensorSet *ts, const char *label)
{
    SlError err = {0};
    SlModel *m = sl_model_from_tensors(ts, label, &err);
    if (m)
        fuzz_check_model(m);
    else
        fuzz_check_refusal(&err);
    sl_model_free(m);
}

/* The same input read the way a user's file is (header first, then what
 * it declares, through a descriptor: file_read.h) must be accepted or
 * refused as the in-memory parse was, and yield the same tensors.  mem is
 * the in-memory result (NULL when refused). */
static inline void fuzz_check_file_reader(const uint8_t *data, size_t size, const SlTensorSet *mem, const char *label,
                                          SlTensorSet *(*reader)(const SlFile *, SlError *))
{
    int fd = memfd_create("fuzz", MFD_CLOEXEC);
    FUZZ_CHECK(fd >= 0, "memfd_create failed");
    for (size_t done = 0; done < size;) {
        ssize_t w = write(fd, data + done, size - done);
        FUZZ_CHECK(w > 0, "write to the memfd failed");
        done += (size_t)w;
    }
    SlFile f = {.fd = fd, .size = size, .path = label};
    SlError err = {0};
    SlTensorSet *ts = reader(&f, &err);
    close(fd);
    FUZZ_CHECK((ts != NULL) == (mem != NULL), "read from memory: %s; from the file: %s", mem ? "accepted" : "refused",
               ts ? "accepted" : err.message);
    if (!ts) {
        fuzz_check_refusal(&err);
        return;
    }
    FUZZ_CHECK(ts->count == mem->count && ts->meta_count == mem->meta_count, "different tensors or metadata");
    for (int i = 0; i < ts->count; i++) {
        const SlTensor *a = &ts->items[i], *b = &mem->items[i];
        FUZZ_CHECK(strcmp(a->name, b->name) == 0 && a->dtype == b->dtype && a->nbytes == b->nbytes &&
                   (a->nbytes == 0 || memcmp(a->data, b->data, a->nbytes) == 0), "tensor %d differs", i);
    }
    sl_tensorset_free(ts);
}

#endif
