/* Element-wise kernels written as straight loops the compiler vectorizes; built with
 * clones for AVX-512 and AVX2 picked at load time, so one binary runs everywhere. */
#include "kernels.h"

#include <math.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#if defined(__GNUC__) && defined(__x86_64__) && !defined(__clang__) && !defined(CONTINUO_NO_CLONES)
#define CN_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define CN_CLONES
#endif

/* A loop whose iterations touch only their own elements, even where arrays coincide. (Not
 * asked of a sanitizer build, whose instrumentation can keep such a loop scalar.) */
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CN_SANITIZED 1
#endif
#endif
#if defined(CN_SANITIZED)
#define CN_INDEPENDENT
#elif defined(__clang__)
#define CN_INDEPENDENT _Pragma("clang loop vectorize(assume_safety)")
#elif defined(__GNUC__)
#define CN_INDEPENDENT _Pragma("GCC ivdep")
#else
#define CN_INDEPENDENT
#endif

/* exp(x) = 2^n * exp(r), n = round(x / ln 2), |r| <= ln2 / 2, exp(r) by a degree-6
 * polynomial (Cephes expf coefficients); 2^n built in the exponent bits. n is rounded by
 * adding and taking away 1.5 * 2^23, which vectorizes everywhere (roundf is a libm call
 * that keeps the loops around it scalar). */
static inline float exp_one(float x)
{
    x = x > 88.0f ? 88.0f : (x < -87.0f ? -87.0f : x);
    const float shifter = 12582912.0f;
    float n = (x * 1.44269504088896341f + shifter) - shifter;
    float r = x - n * 0.693359375f + n * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    int32_t bits = ((int32_t)n + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

static inline float sigmoid_one(float x)
{
    return 1.0f / (1.0f + exp_one(-x));
}

static inline float tanh_one(float x)
{
    return 2.0f / (1.0f + exp_one(-2.0f * x)) - 1.0f;
}

CN_CLONES
void cn_vexp(float *y, const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] = exp_one(x[i]);
}

/* Keras's hard sigmoid: clip(0.2 x + 0.5, 0, 1). */
static inline float hard_sigmoid_one(float x)
{
    float y = 0.2f * x + 0.5f;
    return y > 1.0f ? 1.0f : (y < 0.0f ? 0.0f : y);
}

static inline float gate_one(float x, int hard)
{
    return hard ? hard_sigmoid_one(x) : sigmoid_one(x);
}

/* The cell's loop; each caller passes hard as a constant, so each gets a loop of its own
 * without the test, which vectorizes. Element j reads and writes index j only, so the loop
 * vectorizes even where the step passes c_prev and c as the same array. */
static inline void lstm_cell_loop(float *gates, const float *c_prev, float *c, float *h,
                                  float *tanh_c, size_t n_hidden, int hard)
{
    float *gi = gates, *gf = gates + n_hidden, *gg = gates + 2 * n_hidden,
          *go = gates + 3 * n_hidden;
    CN_INDEPENDENT
    for (size_t j = 0; j < n_hidden; j++) {
        float i = gate_one(gi[j], hard), f = gate_one(gf[j], hard), g = tanh_one(gg[j]),
              o = gate_one(go[j], hard);
        float cj = f * c_prev[j] + i * g;
        float tc = tanh_one(cj);
        gi[j] = i, gf[j] = f, gg[j] = g, go[j] = o;
        c[j] = cj;
        h[j] = o * tc;
        tanh_c[j] = tc;
    }
}

CN_CLONES
static void lstm_cell_hard(float *gates, const float *c_prev, float *c, float *h,
                           float *tanh_c, size_t n_hidden)
{
    lstm_cell_loop(gates, c_prev, c, h, tanh_c, n_hidden, 1);
}

CN_CLONES
void cn_lstm_cell(float *gates, const float *c_prev, float *c, float *h, float *tanh_c,
                  size_t n_hidden, int hard_gates)
{
    if (hard_gates)
        lstm_cell_hard(gates, c_prev, c, h, tanh_c, n_hidden);
    else
        lstm_cell_loop(gates, c_prev, c, h, tanh_c, n_hidden, 0);
}

CN_CLONES
void cn_relu(float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        x[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

CN_CLONES
float cn_softmax(float *x, size_t n)
{
    float max = x[0];
    for (size_t i = 1; i < n; i++)
        max = x[i] > max ? x[i] : max;
    float sum = 0.0f;
    for (size_t i = 0; i < n; i++) {
        x[i] = exp_one(x[i] - max);
        sum += x[i];
    }
    float inv = 1.0f / sum;
    for (size_t i = 0; i < n; i++)
        x[i] *= inv;
    return logf(sum) + max;
}

/* The derivative of the hard sigmoid from its value a: 0.2 on its slope, 0 where it is
 * clipped. */
static inline float hard_slope(float a)
{
    return a > 0.0f && a < 1.0f ? 0.2f : 0.0f;
}

CN_CLONES
void cn_lstm_cell_backward(const float *gates, const float *tanh_c, const float *c_prev,
                           const float *dh, float *dc_next, float *d_gates, size_t n_hidden,
                           int hard_gates)
{
    const float *gi = gates, *gf = gates + n_hidden, *gg = gates + 2 * n_hidden,
                *go = gates + 3 * n_hidden;
    float *di = d_gates, *df = d_gates + n_hidden, *dg = d_gates + 2 * n_hidden,
          *d_o = d_gates + 3 * n_hidden;
    for (size_t j = 0; j < n_hidden; j++) {
        float i = gi[j], f = gf[j], g = gg[j], o = go[j], tc = tanh_c[j];
        float dc = dh[j] * o * (1.0f - tc * tc) + dc_next[j];
        if (hard_gates) {
            d_o[j] = dh[j] * tc * hard_slope(o);
            di[j] = dc * g * hard_slope(i);
            df[j] = dc * c_prev[j] * hard_slope(f);
        } else {
            d_o[j] = dh[j] * tc * o * (1.0f - o);
            di[j] = dc * g * i * (1.0f - i);
            df[j] = dc * c_prev[j] * f * (1.0f - f);
        }
        dg[j] = dc * i * (1.0f - g * g);
        dc_next[j] = dc * f;
    }
}

CN_CLONES
void cn_rmsprop_update(float *params, const float *grad, float *mean_sq, size_t n, float lr,
                       float rho, float eps)
{
    for (size_t i = 0; i < n; i++) {
        float g = grad[i];
        float v = rho * mean_sq[i] + (1.0f - rho) * g * g;
        mean_sq[i] = v;
        params[i] -= lr * g / (sqrtf(v) + eps);
    }
}

/* Sixteen independent partial sums per row keep the inner loop free of a serial
 * reduction, so it vectorizes without reassociating anything. */
#define GEMV_LANES 16

static inline float horizontal_sum(const float *acc)
{
    float s = 0.0f;
    for (int j = 0; j < GEMV_LANES; j++)
        s += acc[j];
    return s;
}

CN_CLONES
void cn_gemv_f32(float *y, const float *w, const float *x, size_t n_rows, size_t n_cols)
{
    size_t body = n_cols / GEMV_LANES * GEMV_LANES, r = 0;
    for (; r + 4 <= n_rows; r += 4) {
        const float *w0 = w + r * n_cols, *w1 = w0 + n_cols, *w2 = w1 + n_cols, *w3 = w2 + n_cols;
        float a0[GEMV_LANES] = {0}, a1[GEMV_LANES] = {0}, a2[GEMV_LANES] = {0},
              a3[GEMV_LANES] = {0};
        for (size_t k = 0; k < body; k += GEMV_LANES)
            for (int j = 0; j < GEMV_LANES; j++) {
                float xv = x[k + j];
                a0[j] += w0[k + j] * xv;
                a1[j] += w1[k + j] * xv;
                a2[j] += w2[k + j] * xv;
                a3[j] += w3[k + j] * xv;
            }
        float s0 = horizontal_sum(a0), s1 = horizontal_sum(a1), s2 = horizontal_sum(a2),
              s3 = horizontal_sum(a3);
        for (size_t k = body; k < n_cols; k++) {
            s0 += w0[k] * x[k];
            s1 += w1[k] * x[k];
            s2 += w2[k] * x[k];
            s3 += w3[k] * x[k];
        }
        y[r] += s0, y[r + 1] += s1, y[r + 2] += s2, y[r + 3] += s3;
    }
    for (; r < n_rows; r++) {
        const float *wr = w + r * n_cols;
        float s = 0.0f;
        for (size_t k = 0; k < n_cols; k++)
            s += wr[k] * x[k];
        y[r] += s;
    }
}

void cn_pack_f32(float *w, size_t n_rows, size_t n_cols, float *scratch)
{
    for (size_t r0 = 0; r0 + CN_PANEL <= n_rows; r0 += CN_PANEL) {
        float *panel = w + r0 * n_cols; /* the panel's rows, row by row, become input by input */
        memcpy(scratch, panel, CN_PANEL * n_cols * sizeof(float));
        for (size_t k = 0; k < n_cols; k++)
            for (size_t j = 0; j < CN_PANEL; j++)
                panel[k * CN_PANEL + j] = scratch[j * n_cols + k];
    }
}

/* Four inputs at a time into four accumulators of a panel's rows. */
CN_CLONES
static void gemv_f32_panels(float *y, const float *w, const float *x, size_t n_panels,
                            size_t n_cols)
{
    for (size_t p = 0; p < n_panels; p++) {
        const float *panel = w + p * CN_PANEL * n_cols;
        float a0[CN_PANEL] = {0}, a1[CN_PANEL] = {0}, a2[CN_PANEL] = {0}, a3[CN_PANEL] = {0};
        size_t k = 0;
        for (; k + 4 <= n_cols; k += 4) {
            const float *c = panel + k * CN_PANEL;
            for (int j = 0; j < CN_PANEL; j++) {
                a0[j] += c[j] * x[k];
                a1[j] += c[CN_PANEL + j] * x[k + 1];
                a2[j] += c[2 * CN_PANEL + j] * x[k + 2];
                a3[j] += c[3 * CN_PANEL + j] * x[k + 3];
            }
        }
        for (; k < n_cols; k++)
            for (int j = 0; j < CN_PANEL; j++)
                a0[j] += panel[k * CN_PANEL + j] * x[k];
        for (int j = 0; j < CN_PANEL; j++)
            y[p * CN_PANEL + j] += (a0[j] + a1[j]) + (a2[j] + a3[j]);
    }
}

static inline float bf16_to_float(uint16_t b)
{
    uint32_t bits = (uint32_t)b << 16;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* Input by input: for every input, the CN_PANEL rows' weights side by side. */
static void pack_inputs(uint16_t *out, const float *w, size_t n_rows, size_t n_cols)
{
    size_t whole = n_rows / CN_PANEL * CN_PANEL;
    for (size_t r0 = 0; r0 < whole; r0 += CN_PANEL)
        for (size_t k = 0; k < n_cols; k++)
            for (size_t j = 0; j < CN_PANEL; j++)
                cn_to_bf16(&out[r0 * n_cols + k * CN_PANEL + j], &w[(r0 + j) * n_cols + k], 1);
    cn_to_bf16(out + whole * n_cols, w + whole * n_cols, (n_rows - whole) * n_cols);
}

/* Two inputs at a time: the CN_PANEL rows' weights of inputs k and k+1 interleaved (row
 * 0's two, row 1's two, ...), as the dot-product instruction takes them; an odd last
 * input's weights side by side. */
static void pack_pairs(uint16_t *out, const float *w, size_t n_rows, size_t n_cols)
{
    size_t whole = n_rows / CN_PANEL * CN_PANEL, n_pairs = n_cols / 2;
    for (size_t r0 = 0; r0 < whole; r0 += CN_PANEL) {
        uint16_t *panel = out + r0 * n_cols;
        for (size_t q = 0; q < n_pairs; q++)
            for (size_t j = 0; j < CN_PANEL; j++)
                for (size_t e = 0; e < 2; e++)
                    cn_to_bf16(&panel[q * 2 * CN_PANEL + 2 * j + e],
                               &w[(r0 + j) * n_cols + 2 * q + e], 1);
        if (n_cols % 2)
            for (size_t j = 0; j < CN_PANEL; j++)
                cn_to_bf16(&panel[n_pairs * 2 * CN_PANEL + j], &w[(r0 + j) * n_cols + n_cols - 1],
                           1);
    }
    cn_to_bf16(out + whole * n_cols, w + whole * n_cols, (n_rows - whole) * n_cols);
}

void cn_pack_bf16(uint16_t *out, const float *w, size_t n_rows, size_t n_cols, int kernel)
{
    if (kernel == CN_BF16_DOT)
        pack_pairs(out, w, n_rows, n_cols);
    else
        pack_inputs(out, w, n_rows, n_cols);
}

/* The rows after the last whole panel, row by row. */
static void gemv_bf16_rows(float *y, const uint16_t *w, const float *x, size_t n_rows,
                           size_t n_cols)
{
    for (size_t r = 0; r < n_rows; r++) {
        const uint16_t *row = w + r * n_cols;
        float s = 0.0f;
        for (size_t k = 0; k < n_cols; k++)
            s += bf16_to_float(row[k]) * x[k];
        y[r] += s;
    }
}

/* Four inputs at a time into four accumulators, so that consecutive multiply-adds do not
 * wait on each other. */
CN_CLONES
static void gemv_bf16_panels(float *y, const uint16_t *w, const float *x, size_t n_panels,
                             size_t n_cols)
{
    for (size_t p = 0; p < n_panels; p++) {
        const uint16_t *panel = w + p * CN_PANEL * n_cols;
        float a0[CN_PANEL] = {0}, a1[CN_PANEL] = {0}, a2[CN_PANEL] = {0}, a3[CN_PANEL] = {0};
        size_t k = 0;
        for (; k + 4 <= n_cols; k += 4) {
            const uint16_t *c = panel + k * CN_PANEL;
            for (int j = 0; j < CN_PANEL; j++) {
                a0[j] += bf16_to_float(c[j]) * x[k];
                a1[j] += bf16_to_float(c[CN_PANEL + j]) * x[k + 1];
                a2[j] += bf16_to_float(c[2 * CN_PANEL + j]) * x[k + 2];
                a3[j] += bf16_to_float(c[3 * CN_PANEL + j]) * x[k + 3];
            }
        }
        for (; k < n_cols; k++)
            for (int j = 0; j < CN_PANEL; j++)
                a0[j] += bf16_to_float(panel[k * CN_PANEL + j]) * x[k];
        for (int j = 0; j < CN_PANEL; j++)
            y[p * CN_PANEL + j] += (a0[j] + a1[j]) + (a2[j] + a3[j]);
    }
}

#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>
#define HAVE_AVX512_PANELS 1

/* The same with one 512-bit register a panel (compilers keep to 256 bits when they
 * vectorize on their own): widen 16 bfloat16 to float32 by a shift, multiply-add. */
__attribute__((target("avx512f,avx512bw")))
static void gemv_bf16_panels_avx512(float *y, const uint16_t *w, const float *x,
                                    size_t n_panels, size_t n_cols)
{
    for (size_t p = 0; p < n_panels; p++) {
        const uint16_t *panel = w + p * CN_PANEL * n_cols;
        __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps(), a2 = _mm512_setzero_ps(),
               a3 = _mm512_setzero_ps();
        size_t k = 0;
#define WIDEN(at) _mm512_castsi512_ps(_mm512_slli_epi32( \
                      _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(at))), 16))
        for (; k + 4 <= n_cols; k += 4) {
            const uint16_t *c = panel + k * CN_PANEL;
            a0 = _mm512_fmadd_ps(WIDEN(c), _mm512_set1_ps(x[k]), a0);
            a1 = _mm512_fmadd_ps(WIDEN(c + CN_PANEL), _mm512_set1_ps(x[k + 1]), a1);
            a2 = _mm512_fmadd_ps(WIDEN(c + 2 * CN_PANEL), _mm512_set1_ps(x[k + 2]), a2);
            a3 = _mm512_fmadd_ps(WIDEN(c + 3 * CN_PANEL), _mm512_set1_ps(x[k + 3]), a3);
        }
        for (; k < n_cols; k++)
            a0 = _mm512_fmadd_ps(WIDEN(panel + k * CN_PANEL), _mm512_set1_ps(x[k]), a0);
#undef WIDEN
        __m512 sum = _mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3));
        float *out = y + p * CN_PANEL;
        _mm512_storeu_ps(out, _mm512_add_ps(_mm512_loadu_ps(out), sum));
    }
}
/* The float32 panels in 512-bit registers. */
__attribute__((target("avx512f")))
static void gemv_f32_panels_avx512(float *y, const float *w, const float *x, size_t n_panels,
                                   size_t n_cols)
{
    for (size_t p = 0; p < n_panels; p++) {
        const float *panel = w + p * CN_PANEL * n_cols;
        __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps(), a2 = _mm512_setzero_ps(),
               a3 = _mm512_setzero_ps();
        size_t k = 0;
        for (; k + 4 <= n_cols; k += 4) {
            const float *c = panel + k * CN_PANEL;
            a0 = _mm512_fmadd_ps(_mm512_loadu_ps(c), _mm512_set1_ps(x[k]), a0);
            a1 = _mm512_fmadd_ps(_mm512_loadu_ps(c + CN_PANEL), _mm512_set1_ps(x[k + 1]), a1);
            a2 = _mm512_fmadd_ps(_mm512_loadu_ps(c + 2 * CN_PANEL), _mm512_set1_ps(x[k + 2]), a2);
            a3 = _mm512_fmadd_ps(_mm512_loadu_ps(c + 3 * CN_PANEL), _mm512_set1_ps(x[k + 3]), a3);
        }
        for (; k < n_cols; k++)
            a0 = _mm512_fmadd_ps(_mm512_loadu_ps(panel + k * CN_PANEL), _mm512_set1_ps(x[k]), a0);
        __m512 sum = _mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3));
        float *out = y + p * CN_PANEL;
        _mm512_storeu_ps(out, _mm512_add_ps(_mm512_loadu_ps(out), sum));
    }
}

/* The odd last input of every panel, into y. */
static void gemv_bf16_last_input(float *y, const uint16_t *w, const float *x, size_t n_panels,
                                 size_t n_cols)
{
    if (n_cols % 2 == 0)
        return;
    for (size_t p = 0; p < n_panels; p++) {
        const uint16_t *last = w + p * CN_PANEL * n_cols + (n_cols - 1) * CN_PANEL;
        for (int j = 0; j < CN_PANEL; j++)
            y[p * CN_PANEL + j] += bf16_to_float(last[j]) * x[n_cols - 1];
    }
}

#define DOT_CHUNK 256 /* input pairs converted at a time */

/* With AVX512-BF16 the processor multiplies bfloat16 pairs and adds them to float32 in
 * one instruction. The inputs must be bfloat16 too, which would cost them half their
 * precision, so each is split in two, its rounding and what the rounding left (together
 * 16 significant bits), and both are multiplied: the weights are read once. */
__attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))
static void gemv_bf16_panels_dot(float *y, const uint16_t *w, const float *x, size_t n_panels,
                                 size_t n_cols)
{
    size_t n_pairs = n_cols / 2;
    uint32_t head[DOT_CHUNK], tail[DOT_CHUNK];
    for (size_t q0 = 0; q0 < n_pairs; q0 += DOT_CHUNK) {
        size_t n = n_pairs - q0 < DOT_CHUNK ? n_pairs - q0 : DOT_CHUNK;
        for (size_t i = 0; i < n; i += 8) { /* 16 inputs, 8 pairs, at a time */
            __mmask16 m = (__mmask16)(2 * (n - i) >= 16 ? 0xffff : (1u << (2 * (n - i))) - 1);
            __m512 v = _mm512_maskz_loadu_ps(m, x + 2 * (q0 + i));
            __m256bh h = _mm512_cvtneps_pbh(v);
            __m512 rounded = _mm512_castsi512_ps(
                _mm512_slli_epi32(_mm512_cvtepu16_epi32((__m256i)h), 16));
            __m256bh l = _mm512_cvtneps_pbh(_mm512_sub_ps(v, rounded));
            _mm256_mask_storeu_epi16(head + i, m, (__m256i)h);
            _mm256_mask_storeu_epi16(tail + i, m, (__m256i)l);
        }
        for (size_t p = 0; p < n_panels; p++) {
            const uint16_t *panel = w + p * CN_PANEL * n_cols + q0 * 2 * CN_PANEL;
            __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps(),
                   a2 = _mm512_setzero_ps(), a3 = _mm512_setzero_ps();
            size_t q = 0;
            for (; q + 2 <= n; q += 2) {
                __m512bh v0 = (__m512bh)_mm512_loadu_si512(panel + q * 2 * CN_PANEL);
                __m512bh v1 = (__m512bh)_mm512_loadu_si512(panel + (q + 1) * 2 * CN_PANEL);
                a0 = _mm512_dpbf16_ps(a0, v0, (__m512bh)_mm512_set1_epi32((int)head[q]));
                a1 = _mm512_dpbf16_ps(a1, v0, (__m512bh)_mm512_set1_epi32((int)tail[q]));
                a2 = _mm512_dpbf16_ps(a2, v1, (__m512bh)_mm512_set1_epi32((int)head[q + 1]));
                a3 = _mm512_dpbf16_ps(a3, v1, (__m512bh)_mm512_set1_epi32((int)tail[q + 1]));
            }
            if (q < n) {
                __m512bh v0 = (__m512bh)_mm512_loadu_si512(panel + q * 2 * CN_PANEL);
                a0 = _mm512_dpbf16_ps(a0, v0, (__m512bh)_mm512_set1_epi32((int)head[q]));
                a1 = _mm512_dpbf16_ps(a1, v0, (__m512bh)_mm512_set1_epi32((int)tail[q]));
            }
            __m512 sum = _mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3));
            float *out = y + p * CN_PANEL;
            _mm512_storeu_ps(out, _mm512_add_ps(_mm512_loadu_ps(out), sum));
        }
    }
    gemv_bf16_last_input(y, w, x, n_panels, n_cols);
}
#endif

static _Atomic int kernel_limit = CN_BF16_DOT;

void cn_kernels_limit(int level)
{
    kernel_limit = level;
}

int cn_kernels_best(void)
{
#ifdef HAVE_AVX512_PANELS
    static _Atomic int best = -1; /* every thread that asks gets the same answer */
    if (best < 0) {
        int avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw");
        best = avx512 && __builtin_cpu_supports("avx512bf16") ? CN_BF16_DOT
               : avx512                                       ? CN_BF16_AVX512
                                                              : CN_BF16_PORTABLE;
    }
    return best < kernel_limit ? best : kernel_limit;
#else
    return CN_BF16_PORTABLE;
#endif
}

void cn_gemv_f32_packed(float *y, const float *w, const float *x, size_t n_rows,
                        size_t n_cols)
{
    size_t n_panels = n_rows / CN_PANEL, whole = n_panels * CN_PANEL;
#ifdef HAVE_AVX512_PANELS
    if (cn_kernels_best() >= CN_BF16_AVX512)
        gemv_f32_panels_avx512(y, w, x, n_panels, n_cols);
    else
#endif
        gemv_f32_panels(y, w, x, n_panels, n_cols);
    if (whole < n_rows)
        cn_gemv_f32(y + whole, w + whole * n_cols, x, n_rows - whole, n_cols);
}

void cn_gemv_bf16(float *y, const uint16_t *w, const float *x, size_t n_rows, size_t n_cols,
                  int kernel)
{
    size_t n_panels = n_rows / CN_PANEL, whole = n_panels * CN_PANEL;
    switch (kernel) {
#ifdef HAVE_AVX512_PANELS
    case CN_BF16_DOT: gemv_bf16_panels_dot(y, w, x, n_panels, n_cols); break;
    case CN_BF16_AVX512: gemv_bf16_panels_avx512(y, w, x, n_panels, n_cols); break;
#endif
    default: gemv_bf16_panels(y, w, x, n_panels, n_cols);
    }
    gemv_bf16_rows(y + whole, w + whole * n_cols, x, n_rows - whole, n_cols);
}

void cn_to_bf16(uint16_t *out, const float *in, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t bits;
        memcpy(&bits, &in[i], sizeof bits);
        if ((bits & 0x7f800000u) == 0x7f800000u && (bits & 0x7fffffu)) {
            out[i] = (uint16_t)((bits >> 16) | 0x40); /* NaN stays NaN */
            continue;
        }
        bits += 0x7fffu + ((bits >> 16) & 1u);
        out[i] = (uint16_t)(bits >> 16);
    }
}
