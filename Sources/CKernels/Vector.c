// Small whole-array kernels that Swift compiles lane by lane: softmax's shift by the maximum,
// the sampler's scans of the vocabulary (Swift's SIMD comparisons and `max` have NaN rules
// that keep them scalar) and the 8-bit activation quantizer (rounding, conversion and a 4 x 4
// transpose). Each function carries its own target attribute; callers check
// ec_vector_kernels_supported first.
#include "CKernels.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define AVX2 __attribute__((target("avx2,fma,f16c,sse4.1")))

int ec_vector_kernels_supported(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
}

// The largest of n floats (-infinity when n is 0).
static inline AVX2 float largest_of(const float *x, int n) {
    __m256 a = _mm256_set1_ps(-__builtin_inff()), b = a;
    int p = 0;
    for (; p + 16 <= n; p += 16) {
        a = _mm256_max_ps(a, _mm256_loadu_ps(x + p));
        b = _mm256_max_ps(b, _mm256_loadu_ps(x + p + 8));
    }
    a = _mm256_max_ps(a, b);
    __m128 h = _mm_max_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    h = _mm_max_ps(h, _mm_movehl_ps(h, h));
    h = _mm_max_ss(h, _mm_shuffle_ps(h, h, 1));
    float m = _mm_cvtss_f32(h);
    for (; p < n; p++) m = x[p] > m ? x[p] : m;
    return m;
}

AVX2 float ec_shift_by_max(float *x, int n, int padded, float floor) {
    const float m = largest_of(x, n);
    int p;
    const __m256 top = _mm256_set1_ps(m), low = _mm256_set1_ps(floor);
    for (p = 0; p + 8 <= n; p += 8) _mm256_storeu_ps(x + p, _mm256_max_ps(_mm256_sub_ps(_mm256_loadu_ps(x + p), top), low));
    for (; p < n; p++) x[p] = x[p] - m > floor ? x[p] - m : floor;
    for (; p < padded; p++) x[p] = floor;
    return m;
}

AVX2 int ec_argmax(const float *x, int n, float *largest) {
    const float m = largest_of(x, n);
    *largest = m;
    // The first position holding it, as a scan with a strict comparison finds.
    const __m256 top = _mm256_set1_ps(m);
    int p;
    for (p = 0; p + 8 <= n; p += 8) {
        const int hits = _mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(x + p), top, _CMP_EQ_OQ));
        if (hits) return p + __builtin_ctz((unsigned)hits);
    }
    for (; p < n; p++) if (x[p] == m) return p;
    return 0;
}

AVX2 int ec_at_least(const float *x, int n, float floor, int32_t *indices, int capacity) {
    const __m256 low = _mm256_set1_ps(floor);
    int count = 0, p = 0;
    for (; p + 8 <= n; p += 8) {
        unsigned hits = (unsigned)_mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(x + p), low, _CMP_GE_OQ));
        while (hits) {
            if (count < capacity) indices[count] = p + __builtin_ctz(hits);
            count++;
            hits &= hits - 1;
        }
    }
    for (; p < n; p++)
        if (x[p] >= floor) {
            if (count < capacity) indices[count] = p;
            count++;
        }
    return count;
}

static inline AVX2 float through_half(float v) {
    return _cvtsh_ss(_cvtss_sh(v, _MM_FROUND_TO_NEAREST_INT));
}

AVX2 void ec_quantize_blocks(const float *x, int count, int8_t *q, float *d, float *s, int32_t *sum, float *deq) {
    const __m128 sign = _mm_set1_ps(-0.0f);
    for (int i = 0; i < count; i++) {
        const float *src = x + (size_t)i * 32;
        __m128 rows[8];
        __m128 m = _mm_setzero_ps();
        for (int r = 0; r < 8; r++) {
            rows[r] = _mm_loadu_ps(src + 4 * r);
            m = _mm_max_ps(m, _mm_andnot_ps(sign, rows[r]));
        }
        m = _mm_max_ps(m, _mm_movehl_ps(m, m));
        m = _mm_max_ss(m, _mm_shuffle_ps(m, m, 1));
        const float amax = _mm_cvtss_f32(m);
        const float scale = amax / 127;
        // 127/amax and ties-to-even are what ggml's x86 quantizer computes.
        const __m128 inv = _mm_set1_ps(amax > 0 ? 127 / amax : 0);
        const float scale16 = through_half(scale);
        const __m128 s16 = _mm_set1_ps(scale16);
        __m128i sums = _mm_setzero_si128();
        int8_t *dst = q + (size_t)i * 32;
        float *out = deq + (size_t)i * 32;
        // The block order transposes each half block as a 4 x 4 matrix (see BlockOrder).
        for (int half = 0; half < 2; half++) {
            __m128 c0 = rows[4 * half], c1 = rows[4 * half + 1], c2 = rows[4 * half + 2], c3 = rows[4 * half + 3];
            _MM_TRANSPOSE4_PS(c0, c1, c2, c3);
            const __m128 cols[4] = {c0, c1, c2, c3};
            for (int c = 0; c < 4; c++) {
                const __m128 y = _mm_round_ps(_mm_mul_ps(cols[c], inv), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
                const __m128i v = _mm_cvtps_epi32(y);
                sums = _mm_add_epi32(sums, v);
                const int at = half * 16 + c * 4;
                _mm_storeu_ps(out + at, _mm_mul_ps(_mm_cvtepi32_ps(v), s16));
                const __m128i bytes = _mm_packs_epi16(_mm_packs_epi32(v, v), _mm_setzero_si128());
                const int32_t word = _mm_cvtsi128_si32(bytes);
                __builtin_memcpy(dst + at, &word, 4);
            }
        }
        sums = _mm_add_epi32(sums, _mm_shuffle_epi32(sums, 0x4E));
        sums = _mm_add_epi32(sums, _mm_shuffle_epi32(sums, 0xB1));
        d[i] = scale16;
        sum[i] = _mm_cvtsi128_si32(sums);
        s[i] = through_half(scale * (float)sum[i]);
    }
}

#else

int ec_vector_kernels_supported(void) { return 0; }
float ec_shift_by_max(float *x, int n, int padded, float floor) { (void)x; (void)n; (void)padded; (void)floor; return 0; }
int ec_argmax(const float *x, int n, float *largest) { (void)x; (void)n; *largest = 0; return 0; }
int ec_at_least(const float *x, int n, float floor, int32_t *indices, int capacity) { (void)x; (void)n; (void)floor; (void)indices; (void)capacity; return 0; }
void ec_quantize_blocks(const float *x, int count, int8_t *q, float *d, float *s, int32_t *sum, float *deq) {
    (void)x; (void)count; (void)q; (void)d; (void)s; (void)sum; (void)deq;
}

#endif
