// The kernels Swift cannot express: AVX-512 VNNI's vpdpbusd (four u8 x s8 products summed
// into each 32-bit lane) has no Swift spelling, and LLVM only forms it from full reductions.
// The function carries its own target attribute, so the rest of the build keeps its CPU
// target and machines without VNNI never run it (the caller checks ec_dot_panels_supported).
#include "CKernels.h"

#if defined(__x86_64__)
#include <immintrin.h>
#include <string.h>

#define VNNI __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni")))

int ec_dot_panels_supported(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512bw");
}

static inline int32_t word_at(const int8_t *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return v;
}

// One panel (16 matrix rows) times R activation rows. Per block, each activation row gets
// eight vpdpbusd (4 positions x 16 rows each) into an integer accumulator, which is then
// scaled into a float accumulator: acc += float(isum) * (dw * xd) (+ m * xs for Q4_1).
// R is a constant at every call site, so the accumulators live in registers. With `fetch`, each
// block also prefetches the same block of the next panel: the hardware prefetcher alone left a
// batch's products waiting on memory about as long as they computed.
VNNI static inline __attribute__((always_inline)) void panel_tile(
    const uint8_t *q, const float *d, const float *m, int blocks, int nibbles,
    const int8_t *x, const float *xd, const float *xs, const int32_t *xsum, int cols, const int R,
    float *out, int out_stride, __mmask16 valid, int fetch) {
    const int block_bytes = nibbles ? 256 : 512;
    const uint8_t *next_q = q + (size_t)blocks * block_bytes;
    const float *next_d = d + (size_t)blocks * 16, *next_m = m + (size_t)blocks * 16;
    __m512 acc[8];
    for (int r = 0; r < R; r++) acc[r] = _mm512_setzero_ps();
    const __m512i low = _mm512_set1_epi8(0x0F);
    for (int b = 0; b < blocks; b++) {
        if (fetch) {
            for (int line = 0; line < block_bytes; line += 64) _mm_prefetch((const char *)(next_q + (size_t)b * block_bytes + line), _MM_HINT_T0);
            _mm_prefetch((const char *)(next_d + (size_t)b * 16), _MM_HINT_T0);
            if (nibbles) _mm_prefetch((const char *)(next_m + (size_t)b * 16), _MM_HINT_T0);
        }
        __m512i isum[8];
        for (int r = 0; r < R; r++) isum[r] = _mm512_setzero_si512();
        if (nibbles) {
            // Byte j of a row's 16 holds positions j (low nibble) and j + 16 (high nibble).
            const uint8_t *qb = q + (size_t)b * 256;
            for (int g = 0; g < 4; g++) {
                const __m512i packed = _mm512_load_si512((const void *)(qb + g * 64));
                const __m512i lo = _mm512_and_si512(packed, low);
                const __m512i hi = _mm512_and_si512(_mm512_srli_epi16(packed, 4), low);
                for (int r = 0; r < R; r++) {
                    const int8_t *xr = x + (size_t)r * cols + b * 32;
                    isum[r] = _mm512_dpbusd_epi32(isum[r], lo, _mm512_set1_epi32(word_at(xr + 4 * g)));
                    isum[r] = _mm512_dpbusd_epi32(isum[r], hi, _mm512_set1_epi32(word_at(xr + 16 + 4 * g)));
                }
            }
        } else {
            // Weights stored as w + 128 (unsigned), so the activations' bytes go in as they
            // are, broadcast from memory: sum((w + 128) * x) - 128 * sum(x) = sum(w * x), exactly.
            const uint8_t *qb = q + (size_t)b * 512;
            for (int g = 0; g < 8; g++) {
                const __m512i w = _mm512_load_si512((const void *)(qb + g * 64));
                for (int r = 0; r < R; r++) {
                    const int8_t *xr = x + (size_t)r * cols + b * 32;
                    isum[r] = _mm512_dpbusd_epi32(isum[r], w, _mm512_set1_epi32(word_at(xr + 4 * g)));
                }
            }
            for (int r = 0; r < R; r++) isum[r] = _mm512_sub_epi32(isum[r], _mm512_set1_epi32(128 * xsum[r * blocks + b]));
        }
        const __m512 dw = _mm512_load_ps(d + (size_t)b * 16);
        for (int r = 0; r < R; r++) {
            const float scale = xd[r * blocks + b];
            acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[r]), _mm512_mul_ps(dw, _mm512_set1_ps(scale)), acc[r]);
        }
        if (nibbles) {
            const __m512 mw = _mm512_load_ps(m + (size_t)b * 16);
            for (int r = 0; r < R; r++) acc[r] = _mm512_fmadd_ps(mw, _mm512_set1_ps(xs[r * blocks + b]), acc[r]);
        }
    }
    for (int r = 0; r < R; r++) _mm512_mask_storeu_ps(out + (size_t)r * out_stride, valid, acc[r]);
}

VNNI void ec_dot_panels(const uint8_t *q, const float *d, const float *m, int blocks, int nibbles,
                        int first, int last, int rows,
                        const int8_t *x, const float *xd, const float *xs, const int32_t *xsum, int batch,
                        float *out, int out_stride) {
    const int cols = blocks * 32;
    const size_t panel_bytes = (size_t)blocks * (nibbles ? 256 : 512);
    for (int p = first; p < last; p++) {
        const uint8_t *qp = q + (size_t)p * panel_bytes;
        const float *dp = d + (size_t)p * blocks * 16, *mp = m + (size_t)p * blocks * 16;
        const int left = rows - p * 16;
        const __mmask16 valid = left >= 16 ? 0xFFFF : (__mmask16)((1u << left) - 1);
        int r = 0;
        while (r < batch) {
            // Tiles of up to eight rows, evened out: 10 runs as 5 + 5.
            const int remaining = batch - r;
            const int tiles = (remaining + 7) / 8;
            const int width = (remaining + tiles - 1) / tiles;
            const int8_t *xr = x + (size_t)r * cols;
            const float *xdr = xd + (size_t)r * blocks, *xsr = xs + (size_t)r * blocks;
            const int32_t *xur = xsum + (size_t)r * blocks;
            float *o = out + (size_t)r * out_stride + p * 16;
            switch (width) {
            case 1: panel_tile(qp, dp, mp, blocks, nibbles, xr, xdr, xsr, xur, cols, 1, o, out_stride, valid, r == 0); break;
            case 2: panel_tile(qp, dp, mp, blocks, nibbles, xr, xdr, xsr, xur, cols, 2, o, out_stride, valid, r == 0); break;
            case 3: panel_tile(qp, dp, mp, blocks, nibbles, xr, xdr, xsr, xur, cols, 3, o, out_stride, valid, r == 0); break;
            case 4: panel_tile(qp, dp, mp, blocks, nibbles, xr, xdr, xsr, xur, cols, 4, o, out_stride, valid, r == 0); break;
            case 5: panel_tile(qp, dp, mp, blocks, nibbles, xr, xdr, xsr, xur, cols, 5, o, out_stride, valid, r == 0); break;
            case 6: panel_tile(qp, dp, mp, blocks, nibbles, xr, xdr, xsr, xur, cols, 6, o, out_stride, valid, r == 0); break;
            case 7: panel_tile(qp, dp, mp, blocks, nibbles, xr, xdr, xsr, xur, cols, 7, o, out_stride, valid, r == 0); break;
            default: panel_tile(qp, dp, mp, blocks, nibbles, xr, xdr, xsr, xur, cols, 8, o, out_stride, valid, r == 0); break;
            }
            r += width;
        }
    }
}


// The same panels on AVX2, 256 bits: each half panel (8 rows) runs on its own. vpmaddubsw
// multiplies u8 by s8 and adds pairs into saturating 16-bit lanes, so the products must stay
// below 2^15 in pairs. Q8_0's stored w + 128 times x could reach 2 * 255 * 127: the kernel
// recovers w, multiplies |w| by x carrying w's sign (at most 2 * 128 * 127), and adds nothing
// back. Q4_1's nibbles (at most 15) times x stay small enough to add all four groups' pairs in
// 16 bits (16 * 15 * 127) before widening. Every integer sum equals the VNNI kernel's, and the
// float steps per lane are the same, so the outputs are the same bits.
#define AVX2_PANELS __attribute__((target("avx2,fma,f16c")))

int ec_dot_panels_avx2_supported(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
}

AVX2_PANELS static inline __attribute__((always_inline)) __m256i broadcast_word(const int8_t *p) {
    return _mm256_set1_epi32(word_at(p));
}

// Half panel `half` (rows 8 * half ..< 8 * half + 8) times R activation rows, all blocks.
AVX2_PANELS static inline __attribute__((always_inline)) void half_panel_tile(
    const uint8_t *q, const float *d, const float *m, int blocks, int nibbles, int half,
    const int8_t *x, const float *xd, const float *xs, int cols, const int R,
    float *out, int out_stride, int valid, int fetch) {
    const int block_bytes = nibbles ? 256 : 512;
    const uint8_t *next_q = q + (size_t)blocks * block_bytes;
    __m256 acc[4];
    for (int r = 0; r < R; r++) acc[r] = _mm256_setzero_ps();
    const __m256i low = _mm256_set1_epi8(0x0F), ones = _mm256_set1_epi16(1), top = _mm256_set1_epi8((char)0x80);
    for (int b = 0; b < blocks; b++) {
        if (fetch) {
            for (int line = 0; line < block_bytes; line += 64) _mm_prefetch((const char *)(next_q + (size_t)b * block_bytes + line), _MM_HINT_T0);
        }
        __m256i isum[4];
        if (nibbles) {
            const uint8_t *qb = q + (size_t)b * 256 + half * 32;
            __m256i pairs[4];
            for (int r = 0; r < R; r++) pairs[r] = _mm256_setzero_si256();
            for (int g = 0; g < 4; g++) {
                const __m256i packed = _mm256_load_si256((const __m256i *)(qb + g * 64));
                const __m256i lo = _mm256_and_si256(packed, low);
                const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(packed, 4), low);
                for (int r = 0; r < R; r++) {
                    const int8_t *xr = x + (size_t)r * cols + b * 32;
                    pairs[r] = _mm256_add_epi16(pairs[r], _mm256_maddubs_epi16(lo, broadcast_word(xr + 4 * g)));
                    pairs[r] = _mm256_add_epi16(pairs[r], _mm256_maddubs_epi16(hi, broadcast_word(xr + 16 + 4 * g)));
                }
            }
            for (int r = 0; r < R; r++) isum[r] = _mm256_madd_epi16(pairs[r], ones);
        } else {
            const uint8_t *qb = q + (size_t)b * 512 + half * 32;
            for (int r = 0; r < R; r++) isum[r] = _mm256_setzero_si256();
            for (int g = 0; g < 8; g++) {
                const __m256i w = _mm256_xor_si256(_mm256_load_si256((const __m256i *)(qb + g * 64)), top);
                const __m256i magnitude = _mm256_sign_epi8(w, w);
                for (int r = 0; r < R; r++) {
                    const int8_t *xr = x + (size_t)r * cols + b * 32;
                    const __m256i signed_x = _mm256_sign_epi8(broadcast_word(xr + 4 * g), w);
                    isum[r] = _mm256_add_epi32(isum[r], _mm256_madd_epi16(_mm256_maddubs_epi16(magnitude, signed_x), ones));
                }
            }
        }
        const __m256 dw = _mm256_load_ps(d + (size_t)b * 16 + half * 8);
        for (int r = 0; r < R; r++) {
            const float scale = xd[r * blocks + b];
            acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[r]), _mm256_mul_ps(dw, _mm256_set1_ps(scale)), acc[r]);
        }
        if (nibbles) {
            const __m256 mw = _mm256_load_ps(m + (size_t)b * 16 + half * 8);
            for (int r = 0; r < R; r++) acc[r] = _mm256_fmadd_ps(mw, _mm256_set1_ps(xs[r * blocks + b]), acc[r]);
        }
    }
    if (valid >= 8) {
        for (int r = 0; r < R; r++) _mm256_storeu_ps(out + (size_t)r * out_stride, acc[r]);
    } else {
        for (int r = 0; r < R; r++) {
            float lanes[8];
            _mm256_storeu_ps(lanes, acc[r]);
            for (int t = 0; t < valid; t++) out[(size_t)r * out_stride + t] = lanes[t];
        }
    }
}

AVX2_PANELS void ec_dot_panels_avx2(const uint8_t *q, const float *d, const float *m, int blocks, int nibbles,
                                    int first, int last, int rows,
                                    const int8_t *x, const float *xd, const float *xs, int batch,
                                    float *out, int out_stride) {
    const int cols = blocks * 32;
    const size_t panel_bytes = (size_t)blocks * (nibbles ? 256 : 512);
    for (int p = first; p < last; p++) {
        const uint8_t *qp = q + (size_t)p * panel_bytes;
        const float *dp = d + (size_t)p * blocks * 16, *mp = m + (size_t)p * blocks * 16;
        for (int half = 0; half < 2; half++) {
            const int valid = rows - p * 16 - half * 8;
            if (valid <= 0) break;
            int r = 0;
            while (r < batch) {
                // Tiles of up to four rows, evened out: 6 runs as 3 + 3.
                const int remaining = batch - r;
                const int tiles = (remaining + 3) / 4;
                const int width = (remaining + tiles - 1) / tiles;
                const int8_t *xr = x + (size_t)r * cols;
                const float *xdr = xd + (size_t)r * blocks, *xsr = xs + (size_t)r * blocks;
                float *o = out + (size_t)r * out_stride + p * 16 + half * 8;
                const int fetch = r == 0 && half == 0;
                switch (width) {
                case 1: half_panel_tile(qp, dp, mp, blocks, nibbles, half, xr, xdr, xsr, cols, 1, o, out_stride, valid, fetch); break;
                case 2: half_panel_tile(qp, dp, mp, blocks, nibbles, half, xr, xdr, xsr, cols, 2, o, out_stride, valid, fetch); break;
                case 3: half_panel_tile(qp, dp, mp, blocks, nibbles, half, xr, xdr, xsr, cols, 3, o, out_stride, valid, fetch); break;
                default: half_panel_tile(qp, dp, mp, blocks, nibbles, half, xr, xdr, xsr, cols, 4, o, out_stride, valid, fetch); break;
                }
                r += width;
            }
        }
    }
}

#else

int ec_dot_panels_supported(void) { return 0; }

void ec_dot_panels(const uint8_t *q, const float *d, const float *m, int blocks, int nibbles,
                   int first, int last, int rows,
                   const int8_t *x, const float *xd, const float *xs, const int32_t *xsum, int batch,
                   float *out, int out_stride) {
    (void)q; (void)d; (void)m; (void)blocks; (void)nibbles; (void)first; (void)last; (void)rows;
    (void)x; (void)xd; (void)xs; (void)xsum; (void)batch; (void)out; (void)out_stride;
}

int ec_dot_panels_avx2_supported(void) { return 0; }

void ec_dot_panels_avx2(const uint8_t *q, const float *d, const float *m, int blocks, int nibbles,
                        int first, int last, int rows,
                        const int8_t *x, const float *xd, const float *xs, int batch,
                        float *out, int out_stride) {
    (void)q; (void)d; (void)m; (void)blocks; (void)nibbles; (void)first; (void)last; (void)rows;
    (void)x; (void)xd; (void)xs; (void)batch; (void)out; (void)out_stride;
}

#endif
