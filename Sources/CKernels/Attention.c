// Fast attention in 512-bit lanes. The tiles over a shared cache range keep, in 32 vector
// registers, three rows' nine query heads against 32 keys, or three heads' sums over all 64
// value dimensions; each sum runs in the same order as the Swift tiles (AttentionKernels.swift),
// so the results are the same bits. They read the cache's fp16 keys and values and widen them
// in registers (exactly): half the bytes of an fp32 copy, which a batch's rows re-read from
// memory every layer. Callers check ec_attention_tiles_supported (or the AVX2 variant) first.
#include "CKernels.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define AVX512 __attribute__((target("avx512f")))

int ec_attention_tiles_supported(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f");
}

// L is 1 or 2: how many 16-key blocks per query head. A block is 16 keys, dimension-major, so
// a tile reads its keys front to back (strided rows of a full transposition stalled on loads).
#define SCORE_BLOCK(L)                                                                       \
    do {                                                                                     \
        __m512 acc[9][L];                                                                    \
        for (int t = 0; t < 9; t++)                                                          \
            for (int l = 0; l < L; l++) acc[t][l] = _mm512_setzero_ps();                     \
        const uint16_t *kb = keys + (size_t)(p0 / 16) * block_stride;                        \
        for (int d = 0; d < 64; d++) {                                                       \
            __m512 k[L];                                                                     \
            for (int l = 0; l < L; l++) {                                                    \
                k[l] = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(kb + (size_t)l * block_stride + d * 16))); \
                _mm_prefetch((const char *)(kb + (size_t)(L + l) * block_stride + d * 16), _MM_HINT_T0); \
            }                                                                                \
            for (int t = 0; t < 9; t++) {                                                    \
                const __m512 b = _mm512_set1_ps(qs[t][d]);                                   \
                for (int l = 0; l < L; l++) acc[t][l] = _mm512_fmadd_ps(b, k[l], acc[t][l]); \
            }                                                                                \
        }                                                                                    \
        for (int t = 0; t < 3 * n; t++)                                                      \
            for (int l = 0; l < L; l++)                                                      \
                _mm512_storeu_ps(out + (size_t)((j0 + t / 3) * 3 + t % 3) * stride + p0 + 16 * l, \
                                 _mm512_mul_ps(acc[t][l], s));                               \
    } while (0)

AVX512 void ec_tile_scores64(const float *q, const int32_t *rows, int count, int row_stride,
                             const void *key_blocks, int block_stride, int positions, float scale,
                             float *out, int stride) {
    const __m512 s = _mm512_set1_ps(scale);
    const uint16_t *keys = (const uint16_t *)key_blocks;
    for (int j0 = 0; j0 < count; j0 += 3) {
        const int n = count - j0 < 3 ? count - j0 : 3;
        // A short last group repeats its last row; only real rows are stored.
        const float *qs[9];
        for (int t = 0; t < 9; t++) {
            const int j = j0 + (t / 3 < n ? t / 3 : n - 1);
            qs[t] = q + (size_t)rows[j] * row_stride + (t % 3) * 64;
        }
        int p0 = 0;
        for (; p0 + 32 <= positions; p0 += 32) SCORE_BLOCK(2);
        if (p0 < positions) SCORE_BLOCK(1);
    }
}

// R rows at once read each value vector once for all of them; every lane's chain is the
// same as with one row.
AVX512 static inline __attribute__((always_inline)) void tile_values(const float *w, int stride, const uint16_t *values,
                                                                     int value_stride, int count, float *acc, const int R) {
    __m512 a[2][3][4];
    for (int r = 0; r < R; r++)
        for (int g = 0; g < 3; g++)
            for (int l = 0; l < 4; l++) a[r][g][l] = _mm512_setzero_ps();
    for (int p = 0; p < count; p++) {
        __m512 v[4];
        const uint16_t *vp = values + (size_t)p * value_stride;
        for (int l = 0; l < 4; l++) v[l] = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(vp + 16 * l)));
        // Positions lie value_stride apart, the other heads between: fetch eight ahead.
        _mm_prefetch((const char *)(vp + (size_t)8 * value_stride), _MM_HINT_T0);
        _mm_prefetch((const char *)(vp + (size_t)8 * value_stride + 32), _MM_HINT_T0);
        for (int r = 0; r < R; r++)
            for (int g = 0; g < 3; g++) {
                const __m512 b = _mm512_set1_ps(w[(size_t)(r * 3 + g) * stride + p]);
                for (int l = 0; l < 4; l++) a[r][g][l] = _mm512_fmadd_ps(b, v[l], a[r][g][l]);
            }
    }
    for (int r = 0; r < R; r++)
        for (int g = 0; g < 3; g++)
            for (int l = 0; l < 4; l++) {
                float *dst = acc + (r * 3 + g) * 64 + 16 * l;
                _mm512_storeu_ps(dst, _mm512_add_ps(_mm512_loadu_ps(dst), a[r][g][l]));
            }
}

AVX512 void ec_tile_values64(const float *w, int stride, const void *values, int value_stride, int count, float *acc, int rows) {
    const uint16_t *v = (const uint16_t *)values;
    if (rows >= 2) tile_values(w, stride, v, value_stride, count, acc, 2);
    else tile_values(w, stride, v, value_stride, count, acc, 1);
}

// Past the shared range each row reads its own positions, sixteen keys at a time from the
// cache's key blocks, so that every score is the same chain of fused multiply-adds over the 64
// dimensions as in a tile; and the values continue the tile's chains from the accumulators. A
// row's attention then comes out bit for bit the same whichever of its positions the tiles
// took: alone or in any batch.
// B blocks at once: one block's three chains of 64 dependent fused multiply-adds left the
// vector units waiting on their latency; each chain is still its own, in the same order.
#define OWN_BLOCKS(B)                                                                        \
    do {                                                                                     \
        __m512 acc[B][3];                                                                    \
        for (int b = 0; b < B; b++)                                                          \
            for (int g = 0; g < 3; g++) acc[b][g] = _mm512_setzero_ps();                     \
        for (int d = 0; d < 64; d++) {                                                       \
            const __m512 qd[3] = {_mm512_set1_ps(q[d]), _mm512_set1_ps(q[64 + d]), _mm512_set1_ps(q[128 + d])}; \
            for (int b = 0; b < B; b++) {                                                    \
                const __m512 k = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(block + (size_t)b * block_stride + d * 16))); \
                for (int g = 0; g < 3; g++) acc[b][g] = _mm512_fmadd_ps(qd[g], k, acc[b][g]); \
            }                                                                                \
        }                                                                                    \
        for (int b = 0; b < B; b++, lane0 += 16, block += block_stride) {                    \
            const int lo = lane0 < 0 ? -lane0 : 0, hi = count - lane0 < 16 ? count - lane0 : 16; \
            const __mmask16 valid = (__mmask16)(((1u << hi) - 1) & ~((1u << lo) - 1));       \
            for (int g = 0; g < 3; g++)                                                      \
                _mm512_mask_storeu_ps(out + (size_t)g * stride + lane0, valid, _mm512_mul_ps(acc[b][g], s)); \
        }                                                                                    \
    } while (0)

AVX512 void ec_own_scores64(const float *q, const void *blocks, int block_stride, int first, int count, float scale,
                            float *out, int stride) {
    const __m512 s = _mm512_set1_ps(scale);
    const uint16_t *block = (const uint16_t *)blocks;
    // Lane i of a block is position lane0 + i of the span; lanes outside it are not stored.
    int lane0 = -first;
    while (lane0 < count) {
        const int left = (count - lane0 + 15) / 16;
        if (left >= 4) OWN_BLOCKS(4);
        else if (left >= 2) OWN_BLOCKS(2);
        else OWN_BLOCKS(1);
    }
}

AVX512 void ec_own_values64(const float *w, int stride, const void *values, int value_stride, int count, float *acc) {
    __m512 a[3][4];
    for (int g = 0; g < 3; g++)
        for (int l = 0; l < 4; l++) a[g][l] = _mm512_loadu_ps(acc + g * 64 + 16 * l);
    const uint16_t *v = (const uint16_t *)values;
    for (int p = 0; p < count; p++) {
        const uint16_t *vp = v + (size_t)p * value_stride;
        __m512 x[4];
        for (int l = 0; l < 4; l++) x[l] = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(vp + 16 * l)));
        // Positions lie value_stride apart, the other heads between: fetch four ahead.
        _mm_prefetch((const char *)(vp + (size_t)4 * value_stride), _MM_HINT_T0);
        _mm_prefetch((const char *)(vp + (size_t)4 * value_stride + 32), _MM_HINT_T0);
        for (int g = 0; g < 3; g++) {
            const __m512 b = _mm512_set1_ps(w[(size_t)g * stride + p]);
            for (int l = 0; l < 4; l++) a[g][l] = _mm512_fmadd_ps(b, x[l], a[g][l]);
        }
    }
    for (int g = 0; g < 3; g++)
        for (int l = 0; l < 4; l++) _mm512_storeu_ps(acc + g * 64 + 16 * l, a[g][l]);
}


// The same four kernels in 256-bit lanes for CPUs with AVX2 (and F16C, FMA). Each lane runs
// the very chain of fused multiply-adds that the 512-bit lane of the same key or dimension
// runs, so both write the same bits; the tiles are cut narrower (eight keys or 32 value
// dimensions at a time) to fit sixteen registers.
#define AVX2_TILES __attribute__((target("avx2,fma,f16c")))

int ec_attention_tiles_avx2_supported(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
}

AVX2_TILES static inline __attribute__((always_inline)) __m256 widen8(const uint16_t *p) {
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
}

AVX2_TILES void ec_tile_scores64_avx2(const float *q, const int32_t *rows, int count, int row_stride,
                                      const void *key_blocks, int block_stride, int positions, float scale,
                                      float *out, int stride) {
    const __m256 s = _mm256_set1_ps(scale);
    const uint16_t *keys = (const uint16_t *)key_blocks;
    for (int j0 = 0; j0 < count; j0 += 3) {
        const int n = count - j0 < 3 ? count - j0 : 3;
        const float *qs[9];
        for (int t = 0; t < 9; t++) {
            const int j = j0 + (t / 3 < n ? t / 3 : n - 1);
            qs[t] = q + (size_t)rows[j] * row_stride + (t % 3) * 64;
        }
        for (int p0 = 0; p0 < positions; p0 += 16) {
            for (int half = 0; half < 2; half++) {
                __m256 acc[9];
                for (int t = 0; t < 9; t++) acc[t] = _mm256_setzero_ps();
                const uint16_t *kb = keys + (size_t)(p0 / 16) * block_stride + half * 8;
                for (int d = 0; d < 64; d++) {
                    const __m256 k = widen8(kb + d * 16);
                    for (int t = 0; t < 9; t++) acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(qs[t][d]), k, acc[t]);
                }
                for (int t = 0; t < 3 * n; t++)
                    _mm256_storeu_ps(out + (size_t)((j0 + t / 3) * 3 + t % 3) * stride + p0 + 8 * half, _mm256_mul_ps(acc[t], s));
            }
        }
    }
}

// Three heads' sums over 32 of the 64 value dimensions for one row.
AVX2_TILES static void values_half(const float *w, int stride, const uint16_t *values, int value_stride, int count,
                                   float *acc, int dims, int from_acc) {
    __m256 a[3][4];
    for (int g = 0; g < 3; g++)
        for (int l = 0; l < 4; l++) a[g][l] = from_acc ? _mm256_loadu_ps(acc + g * 64 + dims + 8 * l) : _mm256_setzero_ps();
    for (int p = 0; p < count; p++) {
        const uint16_t *vp = values + (size_t)p * value_stride + dims;
        __m256 v[4];
        for (int l = 0; l < 4; l++) v[l] = widen8(vp + 8 * l);
        _mm_prefetch((const char *)(vp + (size_t)8 * value_stride), _MM_HINT_T0);
        for (int g = 0; g < 3; g++) {
            const __m256 b = _mm256_set1_ps(w[(size_t)g * stride + p]);
            for (int l = 0; l < 4; l++) a[g][l] = _mm256_fmadd_ps(b, v[l], a[g][l]);
        }
    }
    for (int g = 0; g < 3; g++)
        for (int l = 0; l < 4; l++) {
            float *dst = acc + g * 64 + dims + 8 * l;
            // A tile's chain starts from zero and is added to the accumulator at the end; a
            // row's own positions continue the accumulator's chain (as the 512-bit kernels do).
            _mm256_storeu_ps(dst, from_acc ? a[g][l] : _mm256_add_ps(_mm256_loadu_ps(dst), a[g][l]));
        }
}

AVX2_TILES void ec_tile_values64_avx2(const float *w, int stride, const void *values, int value_stride, int count, float *acc, int rows) {
    const uint16_t *v = (const uint16_t *)values;
    for (int r = 0; r < (rows >= 2 ? 2 : 1); r++)
        for (int dims = 0; dims < 64; dims += 32)
            values_half(w + (size_t)r * 3 * stride, stride, v, value_stride, count, acc + r * 3 * 64, dims, 0);
}

AVX2_TILES void ec_own_scores64_avx2(const float *q, const void *blocks, int block_stride, int first, int count, float scale,
                                     float *out, int stride) {
    const __m256 s = _mm256_set1_ps(scale);
    const uint16_t *block = (const uint16_t *)blocks;
    for (int lane0 = -first; lane0 < count; lane0 += 16, block += block_stride) {
        __m256 acc[2][3];
        for (int h = 0; h < 2; h++)
            for (int g = 0; g < 3; g++) acc[h][g] = _mm256_setzero_ps();
        for (int d = 0; d < 64; d++) {
            const __m256 qd[3] = {_mm256_set1_ps(q[d]), _mm256_set1_ps(q[64 + d]), _mm256_set1_ps(q[128 + d])};
            for (int h = 0; h < 2; h++) {
                const __m256 k = widen8(block + d * 16 + 8 * h);
                for (int g = 0; g < 3; g++) acc[h][g] = _mm256_fmadd_ps(qd[g], k, acc[h][g]);
            }
        }
        // Lane i is position lane0 + i of the span; only lanes inside it are stored.
        const int lo = lane0 < 0 ? -lane0 : 0, hi = count - lane0 < 16 ? count - lane0 : 16;
        for (int g = 0; g < 3; g++) {
            float lanes[16];
            _mm256_storeu_ps(lanes, _mm256_mul_ps(acc[0][g], s));
            _mm256_storeu_ps(lanes + 8, _mm256_mul_ps(acc[1][g], s));
            for (int i = lo; i < hi; i++) out[(size_t)g * stride + lane0 + i] = lanes[i];
        }
    }
}

AVX2_TILES void ec_own_values64_avx2(const float *w, int stride, const void *values, int value_stride, int count, float *acc) {
    for (int dims = 0; dims < 64; dims += 32) values_half(w, stride, (const uint16_t *)values, value_stride, count, acc, dims, 1);
}

#else

int ec_attention_tiles_supported(void) { return 0; }
void ec_own_scores64(const float *q, const void *blocks, int block_stride, int first, int count, float scale, float *out, int stride) {
    (void)q; (void)blocks; (void)block_stride; (void)first; (void)count; (void)scale; (void)out; (void)stride;
}
void ec_own_values64(const float *w, int stride, const void *values, int value_stride, int count, float *acc) {
    (void)w; (void)stride; (void)values; (void)value_stride; (void)count; (void)acc;
}
void ec_tile_scores64(const float *q, const int32_t *rows, int count, int row_stride,
                      const void *key_blocks, int block_stride, int positions, float scale,
                      float *out, int stride) {
    (void)q; (void)rows; (void)count; (void)row_stride; (void)key_blocks; (void)block_stride; (void)positions;
    (void)scale; (void)out; (void)stride;
}
void ec_tile_values64(const float *w, int stride, const void *values, int value_stride, int count, float *acc, int rows) {
    (void)w; (void)stride; (void)values; (void)value_stride; (void)count; (void)acc; (void)rows;
}
int ec_attention_tiles_avx2_supported(void) { return 0; }
void ec_own_scores64_avx2(const float *q, const void *blocks, int block_stride, int first, int count, float scale, float *out, int stride) {
    ec_own_scores64(q, blocks, block_stride, first, count, scale, out, stride);
}
void ec_own_values64_avx2(const float *w, int stride, const void *values, int value_stride, int count, float *acc) {
    ec_own_values64(w, stride, values, value_stride, count, acc);
}
void ec_tile_scores64_avx2(const float *q, const int32_t *rows, int count, int row_stride,
                           const void *key_blocks, int block_stride, int positions, float scale,
                           float *out, int stride) {
    ec_tile_scores64(q, rows, count, row_stride, key_blocks, block_stride, positions, scale, out, stride);
}
void ec_tile_values64_avx2(const float *w, int stride, const void *values, int value_stride, int count, float *acc, int rows) {
    ec_tile_values64(w, stride, values, value_stride, count, acc, rows);
}

#endif
