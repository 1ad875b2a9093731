#!/usr/bin/env bash
# Prints the CPU name release builds target: the widest x86-64 level this host runs.
flags=$(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null)
has() { [[ " $flags " == *" $1 "* ]]; }
if [ "$(uname -m)" != "x86_64" ]; then echo ""; exit 0; fi
if has avx512f && has avx512bw && has avx512vl; then echo "skylake-avx512"
elif has avx2 && has fma && has f16c; then echo "haswell"
else echo ""; fi
