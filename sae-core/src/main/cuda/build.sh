#!/usr/bin/env bash
# Compiles every kernel family (one .cu each) into a fatbin with SASS for sm_80 and sm_90 plus compute_90 PTX (and the
# encoder once more for sm_90a, with its wgmma mainloop), and
# records the SHA-256 of the sources (this script included) beside the fatbins. CudaBinariesTest compares that
# record with the sources, so a commit that changes a kernel without rebuilding fails the build.
#
# Usage: build.sh [output-dir]   (default: ../resources/cuda; the Maven profile -Pcuda-kernels runs it)
set -euo pipefail

src="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="${1:-$src/../resources/cuda}"
nvcc_bin="${NVCC:-nvcc}"
flags=(-fatbin -std=c++17 -O3 -lineinfo
       -gencode arch=compute_80,code=sm_80
       -gencode arch=compute_90,code=sm_90
       -gencode arch=compute_90,code=compute_90)
flags_sm90a=(-fatbin -std=c++17 -O3 -lineinfo -DSAE_WGMMA -gencode arch=compute_90a,code=sm_90a)

if ! command -v "$nvcc_bin" >/dev/null 2>&1; then
  echo "build.sh: nvcc not found (set NVCC or PATH); the committed fatbins in $out are used as they are" >&2
  exit 1
fi
mkdir -p "$out"
for f in "$src"/*.cu; do
  name="$(basename "$f" .cu)"
  "$nvcc_bin" "${flags[@]}" -o "$out/$name.fatbin.tmp" "$f"
  mv "$out/$name.fatbin.tmp" "$out/$name.fatbin"
done
# The encoder again with its Hopper mainloop (wgmma, which exists only in the architecture-specific sm_90a target):
# SASS for sm_90a alone, loaded instead of encode.fatbin on compute capability 9.0 devices.
"$nvcc_bin" "${flags_sm90a[@]}" -o "$out/encode_sm90a.fatbin.tmp" "$src/encode.cu"
mv "$out/encode_sm90a.fatbin.tmp" "$out/encode_sm90a.fatbin"
{
  echo "# SHA-256 of the kernel sources these fatbins were built from (sha256sum format)."
  echo "# $("$nvcc_bin" --version | grep -m1 release)"
  echo "# flags: ${flags[*]}"
  echo "# encode_sm90a.fatbin: ${flags_sm90a[*]}"
  (cd "$src" && LC_ALL=C sha256sum -- build.sh *.cuh *.cu)
} > "$out/SOURCES.sha256.tmp"
mv "$out/SOURCES.sha256.tmp" "$out/SOURCES.sha256"
echo "build.sh: $(ls "$src"/*.cu | wc -l) kernel families compiled into $out" >&2
