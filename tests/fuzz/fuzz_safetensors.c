/* fuzz_safetensors.c: libFuzzer target for the safetensors reader, then for
 * sl_model_from_tensors on whatever it accepts.
 *
 * Beyond not crashing: every refusal carries a message; an accepted file's
 * tensors are consistent (shape, dtype and byte count agree) and their bytes
 * all lie in the file, so the data they hold can never exceed its size; and
 * the same bytes read from a file (header first) give the same answer. */
#define _GNU_SOURCE   /* memfd_create, for fuzz_check_file_reader */
#include <stdint.h>

#include "sortlens/safetensors.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    SlError err = {0};
    SlTensorSet *ts = sl_safetensors_parse(data, size, "fuzz.safetensors", &err);
    fuzz_check_file_reader(data, size, ts, "fuzz.safetensors", sl_safetensors_read_file);
    if (!ts) {
        fuzz_check_refusal(&err);
        return 0;
    }
    size_t total = fuzz_check_tensorset(ts);
    FUZZ_CHECK(total <= size, "tensors hold %zu bytes from a %zu-byte file", total, size);
    fuzz_try_model(ts, "fuzz.safetensors");
    sl_tensorset_free(ts);
    return 0;
}
