#!/usr/bin/env bash
# Trains SAEForge and the PyTorch peer (../shared/peers/torch_topk.py) on the same synthetic data with the same
# budget, evaluates both exported SAEs with the same reader on the same unseen test rows, and writes
# benchmarks/results/quality-topk-<date>.json. Needs Debian python3-torch python3-numpy libopenblas0-openmp.
#
# Settings (environment): D=256 NTRUE=2048 AVG=12 ROWS=200000 TEST_ROWS=10000 LATENTS=4096 K=16 BATCH=4096
# TOKENS=3000000 WARMUP=36 THREADS=2 SEED=0 LR= (empty: each tool's default auto LR) WORK=/tmp/saeforge-quality
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
peers="$root/../shared/peers"
D=${D:-256}; NTRUE=${NTRUE:-2048}; AVG=${AVG:-12}; ROWS=${ROWS:-200000}; TEST_ROWS=${TEST_ROWS:-10000}
LATENTS=${LATENTS:-4096}; K=${K:-16}; BATCH=${BATCH:-4096}; TOKENS=${TOKENS:-3000000}; WARMUP=${WARMUP:-36}
THREADS=${THREADS:-2}; SEED=${SEED:-0}; LR=${LR:-}; WORK=${WORK:-/tmp/saeforge-quality}
py=/usr/bin/python3
mkdir -p "$WORK"
cd "$WORK"

if grep -qw avx512f /proc/cpuinfo; then export OPENBLAS_CORETYPE=SkylakeX; fi

echo "== data: make_synthetic.py d=$D n_true=$NTRUE rows=$ROWS+$TEST_ROWS avg_active=$AVG seed=$SEED" >&2
$py "$peers/make_synthetic.py" --d "$D" --n-true "$NTRUE" --rows $((ROWS + TEST_ROWS)) --avg-active "$AVG" --seed "$SEED" \
    --out all.npy --truth-out truth.npy > synth.json
$py -c "
import numpy as np
X = np.load('all.npy'); np.save('train.npy', X[:$ROWS]); np.save('test.npy', X[$ROWS:])"

lr_peer=(); lr_ours=()
if [ -n "$LR" ]; then lr_peer=(--lr "$LR"); lr_ours=(--lr "$LR"); fi

peer_cmd=("$py" "$peers/torch_topk.py" --data train.npy --truth truth.npy --d-sae "$LATENTS" --k "$K" --batch "$BATCH"
          --tokens "$TOKENS" --threads "$THREADS" --seed "$SEED" --warmup-steps "$WARMUP" --save-saelens peer_sae "${lr_peer[@]}")
ours_cmd=("$root/sae" train --data train.npy --truth truth.npy --num-latents "$LATENTS" --k "$K" --batch-size "$BATCH"
          --tokens "$TOKENS" --threads "$THREADS" --seed "$SEED" --warmup-steps "$WARMUP" --out ours "${lr_ours[@]}")

echo "== peer: ${peer_cmd[*]}" >&2
"${peer_cmd[@]}" > peer_train.json
echo "== saeforge: ${ours_cmd[*]}" >&2
"${ours_cmd[@]}" 2> ours_train.log | tail -n 1 > ours_train.json

"$root/sae" eval --sae peer_sae --data test.npy --truth truth.npy 2>/dev/null | tail -n 1 > peer_test.json
"$root/sae" eval --sae ours --data test.npy --truth truth.npy 2>/dev/null | tail -n 1 > ours_test.json

out="$root/benchmarks/results/quality-topk-$(date +%F)-d${D}-n${LATENTS}-k${K}${LR:+-lr$LR}.json"
$py - "$out" <<PY
import json, sys, platform, subprocess
cpu = [l.split(':',1)[1].strip() for l in open('/proc/cpuinfo') if l.startswith('model name')][0]
flags = [l for l in open('/proc/cpuinfo') if l.startswith('flags')][0]
res = {
  "benchmark": "TopK quality vs PyTorch peer, same data, same budget, same test rows and reader",
  "machine": {"cpu": cpu, "avx512f": " avx512f" in flags, "cores_used": $THREADS,
              "openblas_coretype": "${OPENBLAS_CORETYPE:-}"},
  "data": json.load(open("synth.json")) | {"train_rows": $ROWS, "test_rows": $TEST_ROWS},
  "config": {"d_in": $D, "num_latents": $LATENTS, "k": $K, "batch": $BATCH, "tokens": $TOKENS,
             "warmup_steps": $WARMUP, "seed": $SEED, "lr": "${LR:-auto}"},
  "commands": {"peer": """${peer_cmd[*]}""", "saeforge": """${ours_cmd[*]}"""},
  "peer": {"train": json.load(open("peer_train.json")), "test": json.load(open("peer_test.json"))},
  "saeforge": {"train": json.load(open("ours_train.json")), "test": json.load(open("ours_test.json"))},
}
p, o = res["peer"], res["saeforge"]
res["summary"] = {
  "test_fvu": {"peer": p["test"]["fvu"], "saeforge": o["test"]["fvu"],
               "relative_difference": o["test"]["fvu"] / p["test"]["fvu"] - 1},
  "recovered_fraction": {"peer": p["test"]["recovered_fraction"], "saeforge": o["test"]["recovered_fraction"]},
  "rows_per_sec": {"peer": p["train"]["tokens_per_sec"], "saeforge": o["train"]["rows_per_sec"],
                   "ratio": o["train"]["rows_per_sec"] / p["train"]["tokens_per_sec"]},
  "bar": "FVU no worse than peer + 5% relative; recovery no worse than peer - 0.02",
  "passes": o["test"]["fvu"] <= 1.05 * p["test"]["fvu"] and o["test"]["recovered_fraction"] >= p["test"]["recovered_fraction"] - 0.02,
}
json.dump(res, open(sys.argv[1], "w"), indent=1)
print(json.dumps(res["summary"], indent=1))
PY
echo "wrote $out" >&2
