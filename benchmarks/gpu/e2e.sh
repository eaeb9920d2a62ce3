#!/usr/bin/env bash
# The end-to-end GPU training benchmark (issue 10): dIn 1024, 65,536 latents, k 32, batch 8192, rows from a float16 shard
# folder on local disk. Steps: synthetic data generated on the GPU (make_data.py) and converted with
# `sae convert --dtype float16`; the input pipeline alone (GpuPipelineBench); `sae train --device cuda`; the PyTorch
# peer (torch_topk.py, carried) with --amp bf16 and in fp32; a short run of the same configuration on the CPU and on the
# GPU for the held-out FVU comparison; assemble.py writes gpu-<date>.json.
#
# Usage: e2e.sh OUT_DIR [TORCH_BASELINE_JSON] [SECONDS]   (run.sh calls it; OUT_DIR receives e2e.log and gpu-<date>.json)
# Needs benchmarks/gpu/carry (prepare.sh), python3 with PyTorch and a CUDA GPU. Scratch files go to E2E_WORK (/tmp).
set -uo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
out="${1:?usage: e2e.sh OUT_DIR [TORCH_BASELINE_JSON] [SECONDS]}"
torch_json="${2:-}"
budget="${3:-420}"
carry=benchmarks/gpu/carry
work="${E2E_WORK:-/tmp/sae-e2e}"
python="${PYTHON:-python3}"
day="$(date -u +%F)"
rows="${E2E_ROWS:-1048576}"
steps="${E2E_STEPS:-400}"
fp32_steps="${E2E_FP32_STEPS:-150}"
short_steps="${E2E_SHORT_STEPS:-12}"
batch=8192
n=65536
k=32
d=1024
log="$out/e2e.log"
java_bin="$carry/jre/bin/java"
jvm=("$java_bin" --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -Xmx48g -Djava.io.tmpdir=/tmp -cp "$carry/lib/*")
sae=("${jvm[@]}" org.saeforge.cli.SaeCli)
peer="$carry/peers/torch_topk.py"
start=$SECONDS
mkdir -p "$out" "$work"
: > "$log"

if [ ! -x "$java_bin" ] || [ ! -f "$peer" ]; then
  echo "e2e.sh: $carry is incomplete (run benchmarks/gpu/prepare.sh first)" | tee -a "$log" >&2
  exit 2
fi

# step NAME CAP command...: runs the command with a timeout of min(CAP, time left), logging; returns its exit status
step() {
  local name="$1" cap="$2"
  shift 2
  local left=$((budget - (SECONDS - start)))
  if [ "$left" -lt 15 ]; then
    echo "== $name: skipped ($left s left)" | tee -a "$log"
    return 124
  fi
  local t=$((cap < left ? cap : left))
  echo "== $name (timeout $t s)" | tee -a "$log"
  local s0=$SECONDS
  timeout "$t" "$@" 2>> "$log"
  local rc=$?
  echo "-- $name: exit $rc after $((SECONDS - s0)) s" | tee -a "$log"
  return $rc
}

# --k-start 0: a fixed k, as the peer trains (the default anneals k down from 2k over 80% of the run)
common=(--num-latents "$n" --k "$k" --k-start 0 --batch-size "$batch" --seed 0 --checkpoint-every 0)

if [ ! -f "$work/shards/shards.json" ]; then
  step "synthetic data ($rows x $d, float16 values)" 90 env PYTHONUNBUFFERED=1 "$python" benchmarks/gpu/make_data.py \
    --out "$work/acts.npy" --rows "$rows" --d "$d" >> "$log"
  step "sae convert --dtype float16" 90 "${sae[@]}" convert --data "$work/acts.npy" --out "$work/shards" --dtype float16 >> "$log"
fi
step "input pipeline alone" 60 "${jvm[@]}" org.saeforge.bench.GpuPipelineBench --data "$work/shards" --batch "$batch" \
  --batches 200 > "$work/pipeline.json"
step "sae train --device cuda ($steps steps)" 120 "${sae[@]}" train --data "$work/shards" "${common[@]}" \
  --tokens $((steps * batch)) --device cuda --out "$work/ours" --log-every 10 --warmup-steps 50 --dead-after 10M --lr 1e-4 \
  > "$work/ours.json"
peer_args=(--data "$work/acts.npy" --d-sae "$n" --k "$k" --batch "$batch" --device cuda --warmup-steps 50 --dead-tokens 10000000
           --eval-frac 0.01 --seed 0 --threads 8)
step "PyTorch peer, --amp bf16 ($steps steps)" 120 env PYTHONUNBUFFERED=1 "$python" "$peer" "${peer_args[@]}" \
  --tokens $((steps * batch)) --amp bf16 > "$work/peer-bf16.json"
step "PyTorch peer, fp32 ($fp32_steps steps)" 120 env PYTHONUNBUFFERED=1 "$python" "$peer" "${peer_args[@]}" \
  --tokens $((fp32_steps * batch)) --amp none > "$work/peer-fp32.json"
step "sae train --device cuda, $short_steps steps (FVU comparison)" 60 "${sae[@]}" train --data "$work/shards" "${common[@]}" \
  --tokens $((short_steps * batch)) --device cuda --out "$work/gpu-short" > "$work/gpu-short.json"
step "sae train --device cpu, $short_steps steps (FVU comparison)" 180 "${sae[@]}" train --data "$work/shards" "${common[@]}" \
  --tokens $((short_steps * batch)) --device cpu --threads "$(nproc)" --out "$work/cpu-short" > "$work/cpu-short.json"

"$python" benchmarks/gpu/assemble.py --work "$work" --torch "$torch_json" --out "$out/gpu-$day.json" \
  --shapes "$d" "$n" "$k" "$batch" --steps "$steps" --fp32-steps "$fp32_steps" --short-steps "$short_steps" 2>> "$log"
rc=$?
echo "e2e.sh: $((SECONDS - start)) s; assemble exit $rc" | tee -a "$log"
exit $rc
