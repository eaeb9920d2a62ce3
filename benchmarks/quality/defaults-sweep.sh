#!/usr/bin/env bash
# Learning-rate sweep vs the defaults: for each budget, trains TopK SAEs at every learning rate of a grid (SAEForge's
# other defaults, revival included), one with sparsify's auto learning rate, 10M-row dead window and no revival (the
# PyTorch peer's algorithm: no revival, no k annealing; the foundation's old defaults), and one with SAEForge's defaults (no --lr, no --dead-after); evaluates each export with `sae eval` on the same unseen test rows; writes
# benchmarks/results/defaults-sweep-<date>.json. Data from ../shared/peers/make_synthetic.py.
#
# Settings (environment): D=256 NTRUE=2048 AVG=12 ROWS=200000 TEST_ROWS=10000 LATENTS=4096 K=16 BATCH=4096
# BUDGETS="1000000 3000000" LRS_1000000="..." (grid per budget) THREADS=2 SEED=0 WORK=/tmp/saeforge-defaults
# OUT=path sets the result file. ONLY=defaults re-runs just the default runs, ONLY=extra just the EXTRA runs, ONLY=report only writes the JSON (all
# keep the other results in WORK).
# EXTRA_<budget>="label:args;label:args" adds runs with other settings, e.g. EXTRA_1000000="dead10k:--dead-after 10k".
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
peers="$root/../shared/peers"
D=${D:-256}; NTRUE=${NTRUE:-2048}; AVG=${AVG:-12}; ROWS=${ROWS:-200000}; TEST_ROWS=${TEST_ROWS:-10000}
LATENTS=${LATENTS:-4096}; K=${K:-16}; BATCH=${BATCH:-4096}; THREADS=${THREADS:-2}; SEED=${SEED:-0}
BUDGETS=${BUDGETS:-"1000000 3000000"}; WORK=${WORK:-/tmp/saeforge-defaults}; ONLY=${ONLY:-}
py=/usr/bin/python3
mkdir -p "$WORK"
cd "$WORK"

if [ ! -f test.npy ]; then
  echo "== data: make_synthetic.py d=$D n_true=$NTRUE rows=$ROWS+$TEST_ROWS avg_active=$AVG seed=$SEED" >&2
  $py "$peers/make_synthetic.py" --d "$D" --n-true "$NTRUE" --rows $((ROWS + TEST_ROWS)) --avg-active "$AVG" --seed "$SEED" \
      --out all.npy --truth-out truth.npy > synth.json
  $py -c "
import numpy as np
X = np.load('all.npy'); np.save('train.npy', X[:$ROWS]); np.save('test.npy', X[$ROWS:])"
  rm -f all.npy
fi

# A snapshot of the CLI jar, so that editing sources while the sweep runs cannot rebuild it underneath.
if [ ! -f sae.jar ]; then
  "$root/sae" --version >/dev/null
  cp "$root/sae-cli/target/sae.jar" sae.jar
  (cd "$root" && git rev-parse --short HEAD) > sae.jar.rev
fi
. "$root/benchmarks/quality/sae-env.sh"
sae_use_jar "$WORK/sae.jar"

sparsify_lr=$($py -c "print(2e-4 / ($LATENTS / 16384) ** 0.5)")

run() { # name, extra args...
  local name=$1; shift
  echo "== $name: sae train $*" >&2
  sae train --data train.npy --truth truth.npy --num-latents "$LATENTS" --k "$K" --batch-size "$BATCH" \
      --threads "$THREADS" --seed "$SEED" --out "runs/$name" --checkpoint-every 0 "$@" 2> "runs-$name.log" | tail -n 1 > "train-$name.json"
  sae eval --sae "runs/$name" --data test.npy --truth truth.npy --threads "$THREADS" 2>/dev/null | tail -n 1 > "test-$name.json"
  echo "   $(cat "test-$name.json")" >&2
}

mkdir -p runs
for T in $BUDGETS; do
  var="LRS_$T"
  default_grid="1e-3 2e-3 4e-3 8e-3 1.6e-2"
  grid=${!var:-$default_grid}
  [ "$ONLY" = report ] && continue
  extra_var="EXTRA_$T"
  IFS=';' read -ra extras <<< "${!extra_var:-}"
  for e in "${extras[@]}"; do
    # shellcheck disable=SC2086
    run "t$T-${e%%:*}" --tokens "$T" ${e#*:}
  done
  if [ -z "$ONLY" ]; then
    for lr in $grid; do
      run "t$T-lr$lr" --tokens "$T" --lr "$lr"
    done
    run "t$T-sparsify" --tokens "$T" --lr "$sparsify_lr" --dead-after 10M --revive-after 0 --k-start 0
  fi
  if [ -z "$ONLY" ] || [ "$ONLY" = defaults ]; then
    run "t$T-defaults" --tokens "$T"
  fi
done

out=${OUT:-"$root/benchmarks/results/defaults-sweep-$(date +%F).json"}
$py - "$out" "$BUDGETS" <<PY
import json, sys, glob, os
cpu = [l.split(':',1)[1].strip() for l in open('/proc/cpuinfo') if l.startswith('model name')][0]
flags = [l for l in open('/proc/cpuinfo') if l.startswith('flags')][0]
budgets = sys.argv[2].split()
res = {
  "benchmark": "TopK learning-rate sweep vs SAEForge defaults; held-out test rows, same reader (sae eval)",
  "machine": {"cpu": cpu, "avx512f": " avx512f" in flags, "threads": $THREADS},
  "data": json.load(open("synth.json")) | {"train_rows": $ROWS, "test_rows": $TEST_ROWS},
  "saeforge_revision": open("sae.jar.rev").read().strip(),
  "config": {"d_in": $D, "num_latents": $LATENTS, "k": $K, "batch": $BATCH, "seed": $SEED},
  "budgets": {},
}
for T in budgets:
  runs = {}
  for f in sorted(glob.glob(f"test-t{T}-*.json")):
    name = f[len("test-"):-len(".json")]
    label = name[len(f"t{T}-"):]
    test = json.load(open(f))
    train = json.load(open(f"train-{name}.json"))
    cfg = json.load(open(f"runs/{name}/run.json"))["config"]
    runs[label] = {"lr": cfg["effective"]["lr"], "dead_after": cfg["effective"]["dead_after"],
                   "revive_after": cfg["effective"].get("revive_after", 0),
                   "test_fvu": test["fvu"], "test_l0": test["l0"], "test_dead_fraction": test["dead_fraction"],
                   "recovered_fraction": test["recovered_fraction"], "mmcs": test["mmcs"],
                   "train_rows_per_sec": train["rows_per_sec"]}
  # every fixed-rate run counts as a point of the sweep, sparsify's auto rate included
  sweep = {k: v for k, v in runs.items() if k.startswith("lr") or k == "sparsify"}
  best = min(sweep.items(), key=lambda kv: kv[1]["test_fvu"]) if sweep else None
  d = runs.get("defaults")
  s = runs.get("sparsify")
  entry = {"runs": runs}
  if best and d:
    entry["best_of_sweep"] = {"run": best[0], "test_fvu": best[1]["test_fvu"]}
    entry["defaults_vs_best"] = d["test_fvu"] / best[1]["test_fvu"] - 1
    entry["defaults_within_5pct"] = d["test_fvu"] <= 1.05 * best[1]["test_fvu"]
  if s and d:
    entry["defaults_dead_le_sparsify_auto"] = d["test_dead_fraction"] <= s["test_dead_fraction"]
  res["budgets"][T] = entry
json.dump(res, open(sys.argv[1], "w"), indent=1)
for T, e in res["budgets"].items():
  print(T, {k: v for k, v in e.items() if k != "runs"})
PY
echo "wrote $out" >&2
