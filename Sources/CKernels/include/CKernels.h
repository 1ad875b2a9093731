#ifndef ELIXIR_CODER_CKERNELS_H
#define ELIXIR_CODER_CKERNELS_H

#include <stdint.h>

/// Nonzero when the CPU runs AVX-512 VNNI (vpdpbusd), which the integer panel kernel needs.
int ec_dot_panels_supported(void);

/// Integer panel product: panels `first..<last` of a quantized matrix times `batch` rows of
/// 8-bit activations. See IntegerPanels.swift for the layouts; `nibbles` is 1 for Q4_1
/// (unsigned 4-bit weights against signed activations; `m` the blocks' minimums, times `xs`)
/// and 0 for Q8_0 (weights offset by 128 to unsigned, the offset taken back out of the integer
/// sums with the activation blocks' sums `xsum`; `m` unused). Writes
/// out[r * out_stride + 16 * p + t] for the `rows` matrix rows only.
void ec_dot_panels(const uint8_t *q, const float *d, const float *m, int blocks, int nibbles,
                   int first, int last, int rows,
                   const int8_t *x, const float *xd, const float *xs, const int32_t *xsum, int batch,
                   float *out, int out_stride);

/// Nonzero when the CPU runs AVX2 with FMA and F16C, which ec_dot_panels_avx2 needs.
int ec_dot_panels_avx2_supported(void);

/// ec_dot_panels in 256-bit lanes, for the same layouts and the same output bits: integer sums
/// with vpmaddubsw, so it needs no activation sums (Q8_0's offset is undone on the weights).
void ec_dot_panels_avx2(const uint8_t *q, const float *d, const float *m, int blocks, int nibbles,
                        int first, int last, int rows,
                        const int8_t *x, const float *xd, const float *xs, int batch,
                        float *out, int out_stride);

/// Nonzero when the CPU runs AVX2 with FMA and F16C, which the vector kernels below need.
int ec_vector_kernels_supported(void);

/// Softmax's first step: x[p] = max(x[p] - max(x[0..<n]), floor) for p < n, and floor
/// up to `padded`. Returns the maximum.
float ec_shift_by_max(float *x, int n, int padded, float floor);

/// The first position of the largest of `n` floats (n > 0); the value goes to `largest`.
int ec_argmax(const float *x, int n, float *largest);

/// Writes the positions p < n with x[p] >= floor, in order, to `indices` (the first
/// `capacity` of them); returns how many there are.
int ec_at_least(const float *x, int n, float floor, int32_t *indices, int capacity);

/// Quantizes `count` blocks of 32 floats to 8 bits as ggml's Q8_1 (the same rounding, fp16
/// scales), each block's quants and dequantized values stored in BlockOrder: q, deq 32 per
/// block; d, s, sum one per block (scale, scale times the sum of the quants rounded through
/// fp16, and that sum exactly).
void ec_quantize_blocks(const float *x, int count, int8_t *q, float *d, float *s, int32_t *sum, float *deq);

/// Nonzero when the CPU runs AVX-512F, which the attention tiles below need.
int ec_attention_tiles_supported(void);

/// Scores of `count` rows' three query heads (64 wide, side by side at q + rows[j] * row_stride)
/// against fp16 keys 0..<positions (a multiple of 16), held in blocks of 16 keys, each
/// dimension-major at this head (key p, dimension d at key_blocks[(p / 16) * block_stride +
/// d * 16 + p % 16], in halves), times `scale`: row j's head g lands at out + (3 * j + g) * stride.
void ec_tile_scores64(const float *q, const int32_t *rows, int count, int row_stride,
                      const void *key_blocks, int block_stride, int positions, float scale,
                      float *out, int stride);

/// For `rows` (1 or 2) rows r: acc[(3 * r + g) * 64 + d] += sum over p < count of
/// w[(3 * r + g) * stride + p] * value_p[d], g < 3, for fp16 values `value_stride` halves apart.
void ec_tile_values64(const float *w, int stride, const void *values, int value_stride, int count, float *acc, int rows);

/// One row's three query heads (64 wide, side by side at q) against `count` fp16 keys held in
/// blocks of 16 (`[dimension][lane]` at this head, `block_stride` halves from one block to the
/// next), starting at lane `first` of the first block: out[g * stride + p] = dot * scale, each
/// dot summed in the order of ec_tile_scores64. Writes nothing outside out[g * stride + 0..<count].
void ec_own_scores64(const float *q, const void *blocks, int block_stride, int first, int count, float scale,
                     float *out, int stride);

/// acc[g * 64 + d] += sum over p < count of w[g * stride + p] * value_p[d], for `count` fp16
/// values `value_stride` halves apart, g < 3: one chain of fused multiply-adds per lane that
/// starts from acc, so it continues ec_tile_values64's chains.
void ec_own_values64(const float *w, int stride, const void *values, int value_stride, int count, float *acc);

/// Nonzero when the CPU runs AVX2 with FMA and F16C, which the `_avx2` attention kernels need.
int ec_attention_tiles_avx2_supported(void);

/// The four attention kernels above in 256-bit lanes: the same arguments, the same bits.
void ec_tile_scores64_avx2(const float *q, const int32_t *rows, int count, int row_stride,
                           const void *key_blocks, int block_stride, int positions, float scale,
                           float *out, int stride);
void ec_tile_values64_avx2(const float *w, int stride, const void *values, int value_stride, int count, float *acc, int rows);
void ec_own_scores64_avx2(const float *q, const void *blocks, int block_stride, int first, int count, float scale,
                          float *out, int stride);
void ec_own_values64_avx2(const float *w, int stride, const void *values, int value_stride, int count, float *acc);

#endif
