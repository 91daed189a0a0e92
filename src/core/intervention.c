/* intervention.c: the interventions of forward.h (what each does is
 * written there), their defaults and their checks against a model. */
#include "sortlens/forward.h"

#include <string.h>

#include "forward_internal.h"

void sl_intervention_init(SlIntervention *iv)
{
    memset(iv, 0, sizeof *iv);
    iv->layer = 0;
    iv->head = -1;
    iv->ablate_position = -1;
    iv->ablate_kind = SL_ABLATE_NONE;
    iv->block_source = -1;
    iv->force_query = -1;
    iv->force_source = -1;
}

bool sl_intervention_is_none(const SlIntervention *iv)
{
    return !iv || (iv->qk_terms_off == 0 && !iv->ov_drop_pos && !iv->drop_direct && iv->ablate_position < 0 &&
                   iv->block_source < 0 && iv->force_query < 0 && iv->force_source < 0);
}

int sl_intervention_validate(const SlIntervention *iv, const SlModelConfig *c, SlError *err)
{
    if (sl_intervention_is_none(iv))
        return 0;
    if (iv->layer < 0 || iv->layer >= c->n_layers)
        return sl_error_set(err, SL_EINVAL, "intervention layer %d: the model has layers 0..%d", iv->layer, c->n_layers - 1);
    if (iv->head < -1 || iv->head >= c->n_heads)
        return sl_error_set(err, SL_EINVAL, "intervention head %d: the model has heads 0..%d (-1 for all)", iv->head,
                            c->n_heads - 1);
    if (iv->qk_terms_off & ~(unsigned)0xF)
        return sl_error_set(err, SL_EINVAL, "intervention: unknown QK term bits 0x%x", iv->qk_terms_off);
    if ((iv->qk_terms_off || iv->ov_drop_pos) && iv->layer != 0)
        return sl_error_set(err, SL_EINVAL, "intervention: QK terms and the OV position part are defined on layer 0, not %d",
                            iv->layer);
    if (iv->ablate_position < -1 || iv->ablate_position >= c->n_ctx)
        return sl_error_set(err, SL_EINVAL, "intervention: ablated position %d is outside 0..%d", iv->ablate_position,
                            c->n_ctx - 1);
    if (iv->ablate_position >= 0) {
        if (iv->ablate_kind != SL_ABLATE_ZERO && iv->ablate_kind != SL_ABLATE_MEAN)
            return sl_error_set(err, SL_EINVAL, "intervention: position %d is ablated, but neither to zero nor to the mean",
                                iv->ablate_position);
        if (iv->ablate_kind == SL_ABLATE_MEAN && !iv->ablate_mean_z)
            return sl_error_set(err, SL_EINVAL, "intervention: mean ablation without a mean hook_z");
    }
    if (iv->block_source < -1 || iv->block_source >= c->n_ctx)
        return sl_error_set(err, SL_EINVAL, "intervention: blocked source %d is outside 0..%d", iv->block_source, c->n_ctx - 1);
    if (iv->force_query >= 0 || iv->force_source >= 0) {
        if (iv->force_query < 0 || iv->force_query >= c->n_ctx || iv->force_source < 0 || iv->force_source >= c->n_ctx)
            return sl_error_set(err, SL_EINVAL, "intervention: forced attention %d -> %d needs both positions in 0..%d",
                                iv->force_query, iv->force_source, c->n_ctx - 1);
        if (iv->force_source > iv->force_query)
            return sl_error_set(err, SL_EINVAL, "intervention: query %d cannot attend to the later position %d",
                                iv->force_query, iv->force_source);
    }
    return 0;
}

const SlIntervention *iv_or_none(const SlIntervention *iv)
{
    static const SlIntervention none = {.layer = 0, .head = -1, .ablate_position = -1, .block_source = -1,
                                      .force_query = -1, .force_source = -1};
    return iv ? iv : &none;
}
