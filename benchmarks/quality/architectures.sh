#!/usr/bin/env bash
# Every architecture at SAEForge's defaults against the PyTorch TopK peer (../shared/peers/torch_topk.py) at its default
# (sparsify auto) learning rate and at a tuned one, on the same synthetic data with a known dictionary and the same
# budget; all exports evaluated with `sae eval` on the same unseen test rows. Writes
# benchmarks/results/architectures-<date>.json. Needs Debian python3-torch python3-numpy libopenblas0-openmp.
#
# Settings (environment): D=256 NTRUE=2048 AVG=12 ROWS=200000 TEST_ROWS=10000 LATENTS=4096 K=16 BATCH=4096
# TOKENS=3000000 PEER_LR=4e-3 RELU_L1=... THREADS=2 SEED=0 WORK=/tmp/saeforge-defaults ARCHS="topk batchtopk ..."
# PEER=0 skips the peer runs (keeps earlier results in WORK).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
peers="$root/../shared/peers"
D=${D:-256}; NTRUE=${NTRUE:-2048}; AVG=${AVG:-12}; ROWS=${ROWS:-200000}; TEST_ROWS=${TEST_ROWS:-10000}
LATENTS=${LATENTS:-4096}; K=${K:-16}; BATCH=${BATCH:-4096}; TOKENS=${TOKENS:-3000000}; PEER_LR=${PEER_LR:-4e-3}
RELU_L1=${RELU_L1:-5}; THREADS=${THREADS:-2}; SEED=${SEED:-0}; WORK=${WORK:-/tmp/saeforge-defaults}
ARCHS=${ARCHS:-"topk batchtopk matryoshka jumprelu relu"}; PEER=${PEER:-1}
py=/usr/bin/python3
mkdir -p "$WORK/arch"
cd "$WORK"
if grep -qw avx512f /proc/cpuinfo; then export OPENBLAS_CORETYPE=SkylakeX; fi

if [ ! -f test.npy ]; then
  echo "== data: make_synthetic.py d=$D n_true=$NTRUE rows=$ROWS+$TEST_ROWS avg_active=$AVG seed=$SEED" >&2
  $py "$peers/make_synthetic.py" --d "$D" --n-true "$NTRUE" --rows $((ROWS + TEST_ROWS)) --avg-active "$AVG" --seed "$SEED" \
      --out all.npy --truth-out truth.npy > synth.json
  $py -c "
import numpy as np
X = np.load('all.npy'); np.save('train.npy', X[:$ROWS]); np.save('test.npy', X[$ROWS:])"
  rm -f all.npy
fi
# A snapshot of the CLI jar, so that editing sources meanwhile cannot rebuild it underneath.
if [ ! -f arch/sae.jar ]; then
  "$root/sae" --version >/dev/null
  cp "$root/sae-cli/target/sae.jar" arch/sae.jar
  (cd "$root" && git rev-parse --short HEAD) > arch/sae.jar.rev
fi
export OPENBLAS_THREAD_TIMEOUT="${OPENBLAS_THREAD_TIMEOUT:-16}"  # as ./sae sets it
sae() { java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -jar "$WORK/arch/sae.jar" "$@"; }

if [ "$PEER" = 1 ]; then
  for lr in auto "$PEER_LR"; do
    lr_args=(); [ "$lr" != auto ] && lr_args=(--lr "$lr")
    echo "== peer topk lr $lr" >&2
    $py "$peers/torch_topk.py" --data train.npy --truth truth.npy --d-sae "$LATENTS" --k "$K" --batch "$BATCH" --tokens "$TOKENS" \
        --threads "$THREADS" --seed "$SEED" --warmup-steps $((TOKENS / BATCH / 20)) --dead-tokens $((TOKENS / 10)) \
        --save-saelens "arch/peer-$lr" "${lr_args[@]}" > "arch/peer-$lr-train.json"
    sae eval --sae "arch/peer-$lr" --data test.npy --truth truth.npy --threads "$THREADS" 2>/dev/null | tail -n 1 > "arch/peer-$lr-test.json"
    echo "   $(cat "arch/peer-$lr-test.json")" >&2
  done
fi

for a in $ARCHS; do
  args=(--architecture "$a")
  if [ "$a" = relu ]; then args+=(--l1-coef "$RELU_L1"); else args+=(--k "$K"); fi
  echo "== saeforge $a: ${args[*]}" >&2
  rm -rf "arch/ours-$a"
  sae train --data train.npy --truth truth.npy --num-latents "$LATENTS" --batch-size "$BATCH" --tokens "$TOKENS" \
      --threads "$THREADS" --seed "$SEED" --checkpoint-every 0 --out "arch/ours-$a" "${args[@]}" 2> "arch/ours-$a.log" \
      | tail -n 1 > "arch/ours-$a-train.json"
  sae eval --sae "arch/ours-$a" --data test.npy --truth truth.npy --threads "$THREADS" 2>/dev/null | tail -n 1 > "arch/ours-$a-test.json"
  echo "   $(cat "arch/ours-$a-test.json")" >&2
done

out="$root/benchmarks/results/architectures-$(date +%F).json"
$py - "$out" "$ARCHS" "$PEER_LR" <<PY
import json, sys, os
cpu = [l.split(':',1)[1].strip() for l in open('/proc/cpuinfo') if l.startswith('model name')][0]
flags = [l for l in open('/proc/cpuinfo') if l.startswith('flags')][0]
archs = sys.argv[2].split()
res = {
  "benchmark": "every architecture at SAEForge defaults vs the PyTorch TopK peer; same data, budget, test rows and reader",
  "machine": {"cpu": cpu, "avx512f": " avx512f" in flags, "threads": $THREADS},
  "data": json.load(open("synth.json")) | {"train_rows": $ROWS, "test_rows": $TEST_ROWS},
  "saeforge_revision": open("arch/sae.jar.rev").read().strip(),
  "config": {"d_in": $D, "num_latents": $LATENTS, "k": $K, "batch": $BATCH, "tokens": $TOKENS, "seed": $SEED,
             "relu_l1_coef": $RELU_L1},
  "peer": {}, "saeforge": {},
}
def pick(t):
  return {k: t[k] for k in ["fvu", "l0", "dead_fraction", "recovered_fraction", "mmcs"]}
for lr in ["auto", sys.argv[3]]:
  f = f"arch/peer-{lr}-test.json"
  if os.path.exists(f):
    tr = json.load(open(f"arch/peer-{lr}-train.json"))
    res["peer"][f"topk-lr-{lr}"] = {"test": pick(json.load(open(f))), "lr": tr["lr"], "tokens_per_sec": tr["tokens_per_sec"]}
for a in archs:
  tr = json.load(open(f"arch/ours-{a}-train.json"))
  cfg = json.load(open(f"arch/ours-{a}/run.json"))["config"]
  res["saeforge"][a] = {"test": pick(json.load(open(f"arch/ours-{a}-test.json"))), "lr": cfg["effective"]["lr"],
                        "rows_per_sec": tr["rows_per_sec"], "export": json.load(open(f"arch/ours-{a}/saelens/cfg.json"))["architecture"]}
p = res["peer"]
summary = {}
for a, r in res["saeforge"].items():
  s = {"l0": r["test"]["l0"], "fvu": r["test"]["fvu"], "recovered": r["test"]["recovered_fraction"]}
  for name, pr in p.items():
    s[f"recovered_minus_peer_{name}"] = r["test"]["recovered_fraction"] - pr["test"]["recovered_fraction"]
    s[f"at_least_peer_{name}_recovery"] = r["test"]["recovered_fraction"] >= pr["test"]["recovered_fraction"]
  summary[a] = s
res["summary"] = summary
json.dump(res, open(sys.argv[1], "w"), indent=1)
print(json.dumps(summary, indent=1))
PY
echo "wrote $out" >&2
