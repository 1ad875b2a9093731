#!/usr/bin/env bash
# Prints the CPU name release builds target: haswell (AVX2, FMA, F16C) where the host has them.
# AVX-512 hosts get haswell too: the kernels are written for 256-bit vectors, and on our
# 2-core AMD EPYC the skylake-avx512 target measured slower at batch 8 (205-221 tok/s
# against 241-262, `bench engine`, four alternating runs each).
flags=$(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null)
has() { [[ " $flags " == *" $1 "* ]]; }
if [ "$(uname -m)" != "x86_64" ]; then echo ""; exit 0; fi
if has avx2 && has fma && has f16c; then echo "haswell"
else echo ""; fi
