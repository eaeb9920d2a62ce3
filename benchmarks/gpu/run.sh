#!/usr/bin/env bash
# The GPU verification of the CUDA kernels in ONE device call, on a machine with nvcc, PyTorch and a CUDA 13 driver
# but no JDK and no network. Needs benchmarks/gpu/carry (built here by prepare.sh); the device call is
#     run(command="bash benchmarks/gpu/run.sh", carry=["benchmarks/gpu/carry"], timeout_s=600)
# Steps: environment and SASS facts; PyTorch's bf16/TF32/fp32 matmul of the encoder shape and the copy bandwidth;
# the CUDA parity tests (they must run: -Dsae.cuda.require=true); the per-kernel benchmark; compute-sanitizer over
# the parity tests of the sparse kernels if time is left. Everything lands in $OUT (7 files, all top level), or in
# benchmarks/results when OUT is unset; copy gpu-kernels-<date>.json into benchmarks/results and commit it.
set -uo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
carry=benchmarks/gpu/carry
out="${OUT:-$root/benchmarks/results}"
mkdir -p "$out"
day="$(date -u +%F)"
java_bin="$carry/jre/bin/java"
jvm=("$java_bin" --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -Xmx24g -Djava.io.tmpdir=/tmp)
cp="$carry/lib/*"
status=0

if [ ! -x "$java_bin" ]; then
  echo "run.sh: $carry is missing: run benchmarks/gpu/prepare.sh first and carry benchmarks/gpu/carry" >&2
  exit 2
fi

echo "== environment"
{
  date -u
  nvidia-smi
  nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,clocks.mem,temperature.gpu,power.draw --format=csv
  nvcc --version | tail -2
  "$java_bin" -version
  nproc
  free -g
} > "$out/env.txt" 2>&1
head -20 "$out/env.txt" | grep -E "NVIDIA|Driver|release|openjdk" || true

echo "== SASS of the committed fatbins (tensor-core instructions, local memory, registers)"
{
  for f in sae-core/src/main/resources/cuda/*.fatbin; do
    echo "## $f"
    cuobjdump --list-elf --list-ptx "$f"
  done
  cuobjdump -sass -arch sm_90 sae-core/src/main/resources/cuda/encode.fatbin > /tmp/encode90.sass
  for fn in $(grep -oE 'Function : [a-z_0-9]+' /tmp/encode90.sass | awk '{print $3}'); do
    body="$(awk -v f="$fn" '$0 ~ "Function : "f"$" {on=1; next} /Function : / {on=0} on' /tmp/encode90.sass)"
    printf '%-22s HMMA %4d  LDSM %3d  LDGSTS %3d  FFMA %5d  LDL/STL %3d\n' "$fn" \
      "$(grep -c HMMA <<< "$body")" "$(grep -c LDSM <<< "$body")" "$(grep -c LDGSTS <<< "$body")" \
      "$(grep -c FFMA <<< "$body")" "$(grep -cE 'LDL|STL' <<< "$body")"
  done
  cuobjdump -res-usage -arch sm_90 sae-core/src/main/resources/cuda/*.fatbin
} > "$out/sass.txt" 2>&1
grep -E '^gemm_' "$out/sass.txt" || echo "(cuobjdump unavailable or no gemm functions: see sass.txt)"

echo "== PyTorch baseline (same call, same GPU)"
if ! PYTHONUNBUFFERED=1 timeout 150 python3 benchmarks/gpu/torch_baseline.py > "$out/torch-baseline.json" 2>> "$out/env.txt"; then
  echo "run.sh: the PyTorch baseline failed (see env.txt); floors will be missing" >&2
  status=1
fi
cat "$out/torch-baseline.json"

echo "== CUDA parity tests"
timeout 240 "${jvm[@]}" -Dsae.cuda.require=true -cp "$cp" org.junit.platform.console.ConsoleLauncher execute \
  --select-package org.saeforge.core.kernels.cuda --details=tree --disable-ansi-colors --disable-banner \
  > "$out/tests.log" 2>&1
tests_rc=$?
[ $tests_rc -eq 0 ] || status=1
grep -E '✘|tests (successful|failed|aborted|found)' "$out/tests.log" | head -40

echo "== per-kernel benchmark"
timeout 200 "${jvm[@]}" -cp "$cp" org.saeforge.bench.GpuKernelBench --torch "$out/torch-baseline.json" \
  --out "$out/gpu-kernels-$day.json" > "$out/bench.log" 2>&1
bench_rc=$?
[ $bench_rc -eq 0 ] || status=1

if [ "$SECONDS" -lt 420 ] && command -v compute-sanitizer > /dev/null; then
  echo "== compute-sanitizer memcheck over the sparse-kernel parity tests ($((560 - SECONDS)) s left)"
  timeout $((560 - SECONDS)) compute-sanitizer --tool memcheck --print-limit 20 --error-exitcode 3 \
    "${jvm[@]}" -Dsae.cuda.require=true -cp "$cp" org.junit.platform.console.ConsoleLauncher execute \
    --select-class org.saeforge.core.kernels.cuda.SparseDecodeKernelTest \
    --select-class org.saeforge.core.kernels.cuda.SparseBackwardKernelTest \
    --select-class org.saeforge.core.kernels.cuda.MetricKernelsTest \
    --select-method 'org.saeforge.core.kernels.cuda.TopKEncodeKernelTest#exactTiesGoToTheLowerLatentIndex' \
    --details=summary --disable-ansi-colors --disable-banner > "$out/sanitizer.log" 2>&1
  echo "compute-sanitizer exit $? (0 clean, 3 errors found, 124 out of time)"
  grep -E 'ERROR SUMMARY|Invalid|tests (successful|failed)' "$out/sanitizer.log" | head -10
fi

echo "== summary (tests rc $tests_rc, benchmark rc $bench_rc)"
tail -45 "$out/bench.log"
exit $status
