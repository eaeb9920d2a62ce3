#!/usr/bin/env bash
# Learning-rate sweep of the non-TopK architectures at one budget, next to their default rate, on the data of
# defaults-sweep.sh (run that first, or any WORK folder with train.npy, test.npy and truth.npy). Each SAE is scored by
# `sae eval` on the test rows. Besides the grid and the default rate, an "auto" run trains at sparsify's auto rate
# 2e-4 / sqrt(num_latents / 2^14) without revival (the peer's recipe): the reference for the dead-latent half of the
# defaults goal; and a "norevive" run at the default rate without revival shows what revival changes. Writes
# benchmarks/results/arch-lr-sweep-<date>.json (or OUT). Runs whose test result is already in WORK/RUNS are kept.
#
# Settings (environment): WORK=/tmp/saeforge-defaults RUNS=archlr ARCHS="batchtopk matryoshka relu" LRS="1e-3 2e-3 4e-3 8e-3"
# TOKENS=3000000 LATENTS=4096 K=16 RELU_L1=5 BATCH=4096 THREADS=2 SEED=0 OUT=<file>
# NOREVIVE=0 skips the norevive run (to save time on long budgets).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
WORK=${WORK:-/tmp/saeforge-defaults}; ARCHS=${ARCHS:-"batchtopk matryoshka relu"}; LRS=${LRS:-"1e-3 2e-3 4e-3 8e-3"}
TOKENS=${TOKENS:-3000000}; LATENTS=${LATENTS:-4096}; K=${K:-16}; RELU_L1=${RELU_L1:-5}; BATCH=${BATCH:-4096}
THREADS=${THREADS:-2}; SEED=${SEED:-0}; RUNS=${RUNS:-archlr}; NOREVIVE=${NOREVIVE:-1}
extra="default auto"; [ "$NOREVIVE" = 0 ] || extra="$extra norevive"
AUTO_LR=$(/usr/bin/python3 -c "print(2e-4 / ($LATENTS / 16384) ** 0.5)")
cd "$WORK"
[ -f test.npy ] || { echo "arch-lr-sweep.sh: $WORK has no test.npy (run defaults-sweep.sh first)" >&2; exit 2; }
mkdir -p "$RUNS"
if [ ! -f "$RUNS/sae.jar" ]; then
  "$root/sae" --version >/dev/null
  cp "$root/sae-cli/target/sae.jar" "$RUNS/sae.jar"
  (cd "$root" && git rev-parse --short HEAD) > "$RUNS/sae.jar.rev"
fi
. "$root/benchmarks/quality/sae-env.sh"
sae_use_jar "$WORK/$RUNS/sae.jar"
for a in $ARCHS; do
  sparsity=(--k "$K"); [ "$a" = relu ] && sparsity=(--l1-coef "$RELU_L1")
  for lr in $extra $LRS; do
    name="$a-$lr-t$TOKENS"
    lr_args=()
    case "$lr" in
      default) ;;
      auto) lr_args=(--lr "$AUTO_LR" --revive-after 0) ;;
      norevive) lr_args=(--revive-after 0) ;;
      *) lr_args=(--lr "$lr");;
    esac
    if [ -s "$RUNS/$name-test.json" ]; then echo "== $name (done)" >&2; continue; fi
    echo "== $name" >&2
    sae train --data train.npy --truth truth.npy --architecture "$a" --num-latents "$LATENTS" "${sparsity[@]}" --batch-size "$BATCH" \
        --tokens "$TOKENS" --threads "$THREADS" --seed "$SEED" --checkpoint-every 0 --out "$RUNS/$name" "${lr_args[@]}" \
        2> "$RUNS/$name.log" | tail -n 1 > "$RUNS/$name-train.json"
    sae eval --sae "$RUNS/$name" --data test.npy --truth truth.npy --threads "$THREADS" 2>/dev/null | tail -n 1 > "$RUNS/$name-test.json"
    echo "   $(cat "$RUNS/$name-test.json")" >&2
  done
done
out="${OUT:-$root/benchmarks/results/arch-lr-sweep-$(date +%F).json}"
/usr/bin/python3 - "$out" "$ARCHS" "$LRS" "$extra" <<PY
import json, sys
archs, lrs, extra = sys.argv[2].split(), sys.argv[3].split(), sys.argv[4].split()
cpu = [l.split(':',1)[1].strip() for l in open('/proc/cpuinfo') if l.startswith('model name')][0]
res = {"benchmark": "learning-rate sweep of non-TopK architectures vs their default rate, the default rate without revival (norevive) and sparsify's auto rate without revival; held-out test rows, sae eval",
       "machine": {"cpu": cpu, "threads": $THREADS}, "saeforge_revision": open("$RUNS/sae.jar.rev").read().strip(),
       "data": json.load(open("synth.json")),
       "config": {"num_latents": $LATENTS, "k": $K, "relu_l1_coef": $RELU_L1, "batch": $BATCH, "tokens": $TOKENS, "seed": $SEED},
       "architectures": {}}
for a in archs:
    runs = {}
    for lr in extra + lrs:
        t = json.load(open(f"$RUNS/{a}-{lr}-t$TOKENS-test.json"))
        cfg = json.load(open(f"$RUNS/{a}-{lr}-t$TOKENS/run.json"))["config"]
        runs[lr] = {"lr": cfg["effective"]["lr"], "revive_after": cfg["effective"]["revive_after"], "test_fvu": t["fvu"],
                    "test_l0": t["l0"], "test_dead_fraction": t["dead_fraction"], "recovered_fraction": t["recovered_fraction"]}
    # the sweep: every fixed rate with the default settings (revival on), and sparsify's rate without revival
    best = min((v for k, v in runs.items() if k not in ("default", "norevive")), key=lambda v: v["test_fvu"])
    res["architectures"][a] = {"runs": runs, "best_of_sweep_fvu": best["test_fvu"], "best_of_sweep_lr": best["lr"],
                               "default_vs_best": runs["default"]["test_fvu"] / best["test_fvu"] - 1,
                               "default_dead_fraction": runs["default"]["test_dead_fraction"],
                               "auto_dead_fraction": runs["auto"]["test_dead_fraction"]}
    if "norevive" in runs:
        res["architectures"][a]["norevive_vs_best"] = runs["norevive"]["test_fvu"] / best["test_fvu"] - 1
json.dump(res, open(sys.argv[1], "w"), indent=1)
for a, e in res["architectures"].items():
    print(a, "default lr %.3g fvu %.4f dead %.2f%%, best lr %.3g fvu %.4f (%+.1f%%), auto dead %.2f%%" % (
          e["runs"]["default"]["lr"], e["runs"]["default"]["test_fvu"], 100 * e["default_dead_fraction"],
          e["best_of_sweep_lr"], e["best_of_sweep_fvu"], 100 * e["default_vs_best"], 100 * e["auto_dead_fraction"]))
PY
echo "wrote $out" >&2
