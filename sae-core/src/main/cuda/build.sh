#!/usr/bin/env bash
# Compiles every kernel family (one .cu each) into a fatbin with SASS for sm_80 and sm_90 plus compute_90 PTX, and
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
{
  echo "# SHA-256 of the kernel sources these fatbins were built from (sha256sum format)."
  echo "# $("$nvcc_bin" --version | grep -m1 release)"
  echo "# flags: ${flags[*]}"
  (cd "$src" && LC_ALL=C sha256sum -- build.sh *.cuh *.cu)
} > "$out/SOURCES.sha256.tmp"
mv "$out/SOURCES.sha256.tmp" "$out/SOURCES.sha256"
echo "build.sh: $(ls "$src"/*.cu | wc -l) kernel families compiled into $out" >&2
