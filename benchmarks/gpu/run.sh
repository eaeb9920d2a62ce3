#!/usr/bin/env bash
# The GPU verification of the CUDA kernels and of GPU training in ONE device call (under 600 s), on a machine with
# nvcc, PyTorch and a CUDA 13 driver but no JDK and no network. Needs benchmarks/gpu/carry (built here by prepare.sh):
#     run(command="bash benchmarks/gpu/run.sh", carry=["benchmarks/gpu/carry"], timeout_s=600)
# Stages (all by default, or those named as arguments, in this order):
#   env        nvidia-smi, clocks, nvcc, java, and the SASS facts of the committed fatbins      -> env.txt
#   baseline   PyTorch's bf16/TF32/fp32 matmul of the encoder shape, the copy bandwidth           -> torch-baseline.json
#   tests      CUDA parity tests (kernels, training device, input pipeline) and the GPU training
#              tests of sae-train; they must run: -Dsae.cuda.require=true; then the encoder's tests
#              over the mma.sync build (on Hopper the default is the wgmma build)                 -> tests.log
#   e2e        the end-to-end training benchmark against the PyTorch peer (e2e.sh)               -> e2e.log, gpu-<date>.json
#   kernels    the per-kernel benchmark (GpuKernelBench), with the time left, then again over the mma.sync encoder
#              (-Dsae.cuda.wgmma=false) for the same-call comparison  -> bench.log, gpu-kernels[-mmasync]-<date>.json
#   sanitizer  compute-sanitizer memcheck over the sparse-kernel and training-device tests, if time is left (appended to tests.log)
# At most 8 files land in $OUT (the device tool's limit), or in benchmarks/results when OUT is unset. Copy
# gpu-<date>.json and gpu-kernels-<date>.json into benchmarks/results and commit them.
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
stages=" ${*:-env baseline tests e2e kernels sanitizer} "
deadline=570
status=0

if [ ! -x "$java_bin" ]; then
  echo "run.sh: $carry is missing: run benchmarks/gpu/prepare.sh first and carry benchmarks/gpu/carry" >&2
  exit 2
fi
want() { [[ "$stages" == *" $1 "* ]]; }
left() { echo $((deadline - SECONDS)); }
cap() { local l; l=$(left); echo $(($1 < l ? $1 : l)); }

if want env; then
  echo "== environment and SASS"
  {
    date -u
    nvidia-smi
    nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,clocks.mem,temperature.gpu,power.draw,memory.used,memory.total \
      --format=csv
    nvcc --version | tail -2
    "$java_bin" -version
    nproc
    free -g
    df -h /tmp
    echo "## SASS of the committed fatbins (tensor-core instructions, local memory, registers)"
    for f in sae-core/src/main/resources/cuda/*.fatbin; do
      echo "### $f"
      cuobjdump --list-elf --list-ptx "$f"
    done
    for build in encode:sm_90 encode_sm90a:sm_90a; do
      echo "### ${build%%:*}.fatbin, ${build##*:}"
      cuobjdump -sass -arch "${build##*:}" "sae-core/src/main/resources/cuda/${build%%:*}.fatbin" > /tmp/encode90.sass
      for fn in $(grep -oE 'Function : [a-z_0-9]+' /tmp/encode90.sass | awk '{print $3}'); do
        body="$(awk -v f="$fn" '$0 ~ "Function : "f"$" {on=1; next} /Function : / {on=0} on' /tmp/encode90.sass)"
        printf '%-22s HGMMA %3d  HMMA %4d  LDSM %3d  LDGSTS %3d  FFMA %5d  LDL/STL %3d\n' "$fn" \
          "$(grep -c HGMMA <<< "$body")" "$(grep -c 'HMMA' <<< "$body")" "$(grep -c LDSM <<< "$body")" \
          "$(grep -c LDGSTS <<< "$body")" "$(grep -c FFMA <<< "$body")" "$(grep -cE 'LDL|STL' <<< "$body")"
      done
    done
    cuobjdump -res-usage -arch sm_90 sae-core/src/main/resources/cuda/*.fatbin
    cuobjdump -res-usage -arch sm_90a sae-core/src/main/resources/cuda/encode_sm90a.fatbin
  } > "$out/env.txt" 2>&1
  grep -E "NVIDIA|Driver|release|openjdk|^gemm_" "$out/env.txt" | head -30 || true
fi

torch_json=""
if want baseline; then
  echo "== PyTorch baseline (same call, same GPU)"
  if PYTHONUNBUFFERED=1 timeout "$(cap 120)" python3 benchmarks/gpu/torch_baseline.py > "$out/torch-baseline.json" 2>> "$out/env.txt"; then
    torch_json="$out/torch-baseline.json"
  else
    echo "run.sh: the PyTorch baseline failed (see env.txt); floors will be missing" >&2
    status=1
  fi
  cat "$out/torch-baseline.json"
fi

if want tests; then
  echo "== CUDA parity and GPU training tests ($(left) s left)"
  timeout "$(cap 150)" "${jvm[@]}" -Dsae.cuda.require=true -cp "$cp" org.junit.platform.console.ConsoleLauncher execute \
    --select-package org.saeforge.core.kernels.cuda --select-class org.saeforge.train.GpuTrainingTest \
    --details=tree --disable-ansi-colors --disable-banner > "$out/tests.log" 2>&1
  tests_rc=$?
  [ $tests_rc -eq 0 ] || status=1
  grep -E '✘|tests (successful|failed|aborted|found)|encoder kernels on' "$out/tests.log" | head -40
  echo "== the encoder's parity tests again over the mma.sync build (-Dsae.cuda.wgmma=false; $(left) s left)"
  echo "==== -Dsae.cuda.wgmma=false" >> "$out/tests.log"
  timeout "$(cap 60)" "${jvm[@]}" -Dsae.cuda.require=true -Dsae.cuda.wgmma=false -cp "$cp" \
    org.junit.platform.console.ConsoleLauncher execute --select-class org.saeforge.core.kernels.cuda.TopKEncodeKernelTest \
    --details=tree --disable-ansi-colors --disable-banner > /tmp/tests-mmasync.log 2>&1 || status=1
  cat /tmp/tests-mmasync.log >> "$out/tests.log"
  grep -E '✘|tests (successful|failed|aborted|found)|encoder kernels on' /tmp/tests-mmasync.log | head -20
fi

if want e2e; then
  echo "== end-to-end training benchmark ($(left) s left)"
  e2e_budget=$(cap 330)
  bash benchmarks/gpu/e2e.sh "$out" "$torch_json" "$((e2e_budget - 10))" || status=1
fi

if want kernels && [ "$(left)" -gt 60 ]; then
  echo "== per-kernel benchmark ($(left) s left)"
  timeout "$(cap 200)" "${jvm[@]}" -cp "$cp" org.saeforge.bench.GpuKernelBench --torch "$out/torch-baseline.json" \
    --out "$out/gpu-kernels-$day.json" > "$out/bench.log" 2>&1 || status=1
  tail -45 "$out/bench.log"
  if [ "$(left)" -gt 40 ]; then
    echo "== per-kernel benchmark over the mma.sync encoder (-Dsae.cuda.wgmma=false; $(left) s left)"
    echo "==== -Dsae.cuda.wgmma=false" >> "$out/bench.log"
    timeout "$(cap 120)" "${jvm[@]}" -Dsae.cuda.wgmma=false -cp "$cp" org.saeforge.bench.GpuKernelBench \
      --torch "$out/torch-baseline.json" --out "$out/gpu-kernels-mmasync-$day.json" >> "$out/bench.log" 2>&1 || status=1
    grep -E '^(gemm_|encoder top-k total)' "$out/bench.log" | tail -8
  fi
fi

if want sanitizer && [ "$(left)" -gt 60 ] && command -v compute-sanitizer > /dev/null; then
  echo "== compute-sanitizer memcheck over the sparse-kernel and training-device tests ($(left) s left)"
  timeout $(($(left) - 10)) compute-sanitizer --tool memcheck --print-limit 20 --error-exitcode 3 \
    "${jvm[@]}" -Dsae.cuda.require=true -cp "$cp" org.junit.platform.console.ConsoleLauncher execute \
    --select-class org.saeforge.core.kernels.cuda.SparseDecodeKernelTest \
    --select-class org.saeforge.core.kernels.cuda.SparseBackwardKernelTest \
    --select-class org.saeforge.core.kernels.cuda.TrainDeviceParityTest \
    --select-class org.saeforge.core.kernels.cuda.CudaBatchFeedTest \
    --select-method 'org.saeforge.core.kernels.cuda.TopKEncodeKernelTest#exactTiesGoToTheLowerLatentIndex' \
    --select-method 'org.saeforge.core.kernels.cuda.TopKEncodeKernelTest#matmulNTMatchesTheReference' \
    --select-method 'org.saeforge.core.kernels.cuda.TopKEncodeKernelTest#fusedTopKAccumulatesAcrossTheTilesOfAChunk' \
    --details=summary --disable-ansi-colors --disable-banner > /tmp/sanitizer.log 2>&1
  echo "compute-sanitizer exit $? (0 clean, 3 errors found, 124 out of time)" | tee -a /tmp/sanitizer.log
  { echo "==== compute-sanitizer memcheck"; cat /tmp/sanitizer.log; } >> "$out/tests.log"
  grep -E 'ERROR SUMMARY|Invalid|tests (successful|failed)' /tmp/sanitizer.log | head -10
fi

echo "== done in $SECONDS s (status $status); files: $(ls "$out" | tr '\n' ' ')"
exit $status
