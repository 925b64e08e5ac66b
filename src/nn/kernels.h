/* The kernels shared by training and inference: element-wise (exp, softmax, the LSTM
 * cell and its backward pass, RMSprop), and the matrix-vector products of an inference
 * step on float32 and packed bfloat16 weights. Internal to the library. Real-time safe: no
 * allocation, no locks, bounded loops. */
#ifndef CONTINUO_KERNELS_H
#define CONTINUO_KERNELS_H

#include <stddef.h>
#include <stdint.h>

/* y[i] = exp(x[i]), accurate to a few ulp over the float range (x clamped to +-88). */
void cn_vexp(float *y, const float *x, size_t n);

/* The LSTM cell on pre-activations gates = [i | f | g | o] (each n_hidden wide) for one
 * row: activates gates in place (i, f, o by the sigmoid, or by the hard sigmoid when
 * hard_gates: CnGates), then c = f * c_prev + i * g and h = o * tanh(c). tanh_c receives
 * tanh(c), which the backward pass needs. */
void cn_lstm_cell(float *gates, const float *c_prev, float *c, float *h, float *tanh_c,
                  size_t n_hidden, int hard_gates);

/* In place: x = max(x, 0). */
void cn_relu(float *x, size_t n);

/* Softmax of logits in place; returns log(sum(exp(logits - max))) + max, so that the
 * cross-entropy of a target k is logsumexp - logits_before[k]. */
float cn_softmax(float *x, size_t n);

/* Backward through the LSTM cell for one row. gates holds the activated [i|f|g|o],
 * tanh_c = tanh(c_t), c_prev the state the step started from, dh the gradient reaching
 * h_t, dc_next the gradient reaching c_t from step t+1 (replaced by the gradient reaching
 * c_prev). Writes the pre-activation gradients [di|df|dg|do] into d_gates. */
void cn_lstm_cell_backward(const float *gates, const float *tanh_c, const float *c_prev,
                           const float *dh, float *dc_next, float *d_gates, size_t n_hidden,
                           int hard_gates);

/* params -= lr * grad / (sqrt(mean_sq) + eps), mean_sq = rho * mean_sq + (1 - rho) * grad^2 */
void cn_rmsprop_update(float *params, const float *grad, float *mean_sq, size_t n, float lr,
                       float rho, float eps);

/* y[r] += sum_k w[r * n_cols + k] * x[k] for every row r: the matrix-vector product of an
 * inference step, streamed once through memory, four rows at a time. */
void cn_gemv_f32(float *y, const float *w, const float *x, size_t n_rows, size_t n_cols);

/* Rows per panel of the packed bfloat16 layout. */
#define CN_PANEL 16

/* Lays a float32 matrix out in place in panels of CN_PANEL rows, input by input, as
 * cn_pack_bf16 does for its float32 kernels (rows after the last whole panel stay row by
 * row); scratch holds CN_PANEL * n_cols floats. */
void cn_pack_f32(float *w, size_t n_rows, size_t n_cols, float *scratch);

/* y[r] += sum_k W[r][k] x[k] on a matrix packed by cn_pack_f32. */
void cn_gemv_f32_packed(float *y, const float *w, const float *x, size_t n_rows,
                        size_t n_cols);

/* The kernels of the bfloat16 product, from the plainest; cn_kernels_best says which the
 * processor has. */
enum {
    CN_BF16_PORTABLE, /* plain loops: products and sums in float32 */
    CN_BF16_AVX512,   /* the same in 512-bit registers */
    CN_BF16_DOT,      /* AVX512-BF16 dot products, each input split in two bfloat16 parts
                         (16 significant bits of it instead of float32's 24) */
};

/* The best kernel of this processor, at most the ceiling set by cn_kernels_limit
 * (CN_BF16_DOT by default: no ceiling); the tests and benchmarks check and time each. */
int cn_kernels_best(void);
void cn_kernels_limit(int kernel);

/* Rounds a (n_rows, n_cols) float32 matrix to bfloat16 (the upper half of each float32,
 * which halves the bytes a step reads) and lays it out for the kernel's cn_gemv_bf16: the
 * rows in panels of CN_PANEL, so that one vector load feeds CN_PANEL rows and no row needs
 * a horizontal sum. Inside a panel, for CN_BF16_DOT the inputs two by two, the rows'
 * weights of inputs k and k+1 interleaved (an odd last input alone); for the others input
 * by input. Rows after the last whole panel stay row by row. The packed matrix has the
 * matrix's size, and its rows from any multiple of CN_PANEL on are again a packed matrix
 * (which is how a product is split between threads). */
void cn_pack_bf16(uint16_t *out, const float *w, size_t n_rows, size_t n_cols, int kernel);

/* y[r] += sum_k W[r][k] x[k] on a matrix packed for the same kernel. */
void cn_gemv_bf16(float *y, const uint16_t *w, const float *x, size_t n_rows, size_t n_cols,
                  int kernel);

/* Rounds float32 values to bfloat16 (to nearest, ties to even). */
void cn_to_bf16(uint16_t *out, const float *in, size_t n);

#endif
