/* attention_ref.c -- reference multi-head softmax attention, one query row at a time:
 * o_i = sum_j softmax_j(scale * q_i . k_j) v_j, keys j > i skipped when causal (the additive
 * finfo.min mask of transformers' CLIP makes those weights exactly 0). Double accumulation. */
#include "kernels/kernels.h"

#include <math.h>

void trdi_k_attention_ref(const trdi_k_attn *p, const float *q, const float *k, const float *v,
                          float *out, float *scratch) {
    const int64_t hd = p->heads * p->head_dim;
    const int64_t qs = p->q_stride ? p->q_stride : hd, ks = p->k_stride ? p->k_stride : hd;
    const int64_t vs = p->v_stride ? p->v_stride : hd, os = p->o_stride ? p->o_stride : hd;
    for (int64_t b = 0; b < p->batch; b++) {
        for (int64_t h = 0; h < p->heads; h++) {
            const float *qb = q + b * p->tq * qs + h * p->head_dim;
            const float *kb = k + b * p->tk * ks + h * p->head_dim;
            const float *vb = v + b * p->tk * vs + h * p->head_dim;
            float *ob = out + b * p->tq * os + h * p->head_dim;
            for (int64_t i = 0; i < p->tq; i++) {
                int64_t nk = p->causal ? (i + 1 < p->tk ? i + 1 : p->tk) : p->tk;
                double mx = -INFINITY, sum = 0.0;
                for (int64_t j = 0; j < nk; j++) {
                    double s = 0.0;
                    for (int64_t d = 0; d < p->head_dim; d++)
                        s += (double)qb[i * qs + d] * (double)kb[j * ks + d];
                    scratch[j] = (float)(s * (double)p->scale);
                    if (scratch[j] > mx) mx = scratch[j];
                }
                for (int64_t j = 0; j < nk; j++) sum += exp((double)scratch[j] - mx);
                for (int64_t j = 0; j < nk; j++)
                    scratch[j] = (float)(exp((double)scratch[j] - mx) / sum);
                for (int64_t d = 0; d < p->head_dim; d++) {
                    double o = 0.0;
                    for (int64_t j = 0; j < nk; j++) o += (double)scratch[j] * (double)vb[j * vs + d];
                    ob[i * os + d] = (float)o;
                }
            }
        }
    }
}
