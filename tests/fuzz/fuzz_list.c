/* fuzz_list.c: libFuzzer target for sl_task_parse_list, the parser of typed and
 * piped lists, with the seed model's shape (n = 10 values in 0..49).
 *
 * Beyond not crashing: a refusal carries a message, and an accepted list is
 * checked against an independent reading of the text (its runs of digits,
 * in order, as decimal numbers), so the parser cannot accept something it
 * misreads. */
#define _GNU_SOURCE   /* memfd_create in fuzz_common.h */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sortlens/task.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { LIST_LEN = 10, VOCAB_OUT = 50 };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    SlModelConfig c = {.n_layers = 1, .n_heads = 1, .d_model = 128, .d_head = 128,
                     .d_vocab_out = VOCAB_OUT, .list_len = LIST_LEN};
    sl_model_config_derive(&c);
    char *text = malloc(size + 1);
    int *values = malloc(LIST_LEN * sizeof *values);   /* exactly n: a write past it is caught */
    if (!text || !values) {
        free(text);
        free(values);
        return 0;
    }
    memcpy(text, data, size);
    text[size] = '\0';
    SlError err = {0};
    int rc = sl_task_parse_list(&c, text, values, &err);
    if (rc == 0) {
        /* the independent reading: runs of digits up to the first NUL */
        int count = 0;
        const char *p = text;
        while (*p) {
            if (*p >= '0' && *p <= '9') {
                long v = 0;
                while (*p >= '0' && *p <= '9') {
                    FUZZ_CHECK(v < 1000, "accepted a value with too many digits in '%s'", text);
                    v = v * 10 + (*p++ - '0');
                }
                FUZZ_CHECK(count < LIST_LEN, "accepted more than %d numbers in '%s'", LIST_LEN, text);
                FUZZ_CHECK(v < VOCAB_OUT, "accepted %ld in '%s'", v, text);
                FUZZ_CHECK(values[count] == v, "value %d read as %d, the text says %ld", count, values[count], v);
                count++;
            } else {
                FUZZ_CHECK(strchr(" \t\r\n,[]", *p) != NULL, "accepted byte 0x%02x", (unsigned char)*p);
                p++;
            }
        }
        FUZZ_CHECK(count == LIST_LEN, "accepted %d numbers", count);
    } else {
        FUZZ_CHECK(rc == SL_EINVAL, "rc %d", rc);
        fuzz_check_refusal(&err);
    }
    free(text);
    free(values);
    return 0;
}
