/* example.c: the smallest program that links libsortlens.  It loads a model
 * and prints what the model predicts (greedy decoding) for one list, as
 * `sortlens predict --model MODEL LIST` prints it: the n values separated by
 * single spaces.
 *
 *   cc example.c $(pkg-config --cflags --libs sortlens) -o example
 *   ./example model.safetensors 5 3 9 1 0 44 12 7 30 21
 *
 * Only the public API (include/sortlens, sl_ names) is used. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include <sortlens/checkpoint.h>
#include <sortlens/decode.h>

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: example MODEL V1 V2 ... Vn\n");
        return 2;
    }
    SlError err = {0};
    SlModel *m = sl_ckpt_load(argv[1], &err);
    if (!m) {
        fprintf(stderr, "example: %s\n", err.message);
        return 1;
    }
    const int n = m->cfg.list_len, Vo = m->cfg.d_vocab_out;
    if (argc - 2 != n) {
        fprintf(stderr, "example: the model sorts lists of %d values; %d given\n", n, argc - 2);
        sl_model_free(m);
        return 2;
    }
    int values[SL_MODEL_MAX_CTX], pred[SL_MODEL_MAX_CTX];
    for (int i = 0; i < n; i++) {
        char *end;
        errno = 0;
        long v = strtol(argv[2 + i], &end, 10);
        if (errno || end == argv[2 + i] || *end || v < 0 || v >= Vo) {
            fprintf(stderr, "example: %s: not a value in 0..%d\n", argv[2 + i], Vo - 1);
            sl_model_free(m);
            return 2;
        }
        values[i] = (int)v;
    }
    /* one list: a cache for one sequence of the model's whole context */
    SlActCache *cache = sl_cache_new(&m->cfg, 1, m->cfg.n_ctx, &err);
    int rc = cache ? sl_decode_greedy(m, values, 1, pred, NULL, cache, NULL, &err) : -1;
    if (rc) {
        fprintf(stderr, "example: %s\n", err.message);
    } else {
        for (int i = 0; i < n; i++)
            printf(i ? " %d" : "%d", pred[i]);
        putchar('\n');
    }
    sl_cache_free(cache);
    sl_model_free(m);
    return rc ? 1 : 0;
}
