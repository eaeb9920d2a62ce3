#!/usr/bin/env bash
# Re-scores every SAE of a defaults sweep (benchmarks/quality/defaults-sweep.sh, its WORK folder) on the 200k training
# rows as well as the 10k test rows. "Dead" on 10k rows also counts latents that fire more rarely than 1 in 10,000
# rows; on the 200k rows the SAE trained on (at least one dead window's worth) it counts latents that never fire.
# Writes benchmarks/results/defaults-sweep-dead-<date>.json.
#
# Settings (environment): WORK=/tmp/saeforge-defaults THREADS=2 OUT=path (default: the dated file)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
WORK=${WORK:-/tmp/saeforge-defaults}; THREADS=${THREADS:-2}
cd "$WORK"
. "$root/benchmarks/quality/sae-env.sh"
jar="$WORK/sae.jar"
[ -f "$jar" ] || jar="$root/sae-cli/target/sae.jar"
sae_use_jar "$jar"
mkdir -p dead
for run in runs/t*; do
  name=$(basename "$run")
  [ -f "dead/$name.json" ] || sae eval --sae "$run" --data train.npy --threads "$THREADS" 2>/dev/null | tail -n 1 > "dead/$name.json"
done
out=${OUT:-"$root/benchmarks/results/defaults-sweep-dead-$(date +%F).json"}
/usr/bin/python3 - "$out" <<'PY'
import json, sys, glob, os, re
res = {"benchmark": "dead latents of the defaults-sweep SAEs on the 10k test rows and on the 200k training rows",
       "note": "dead = latents with no positive activation on any of the rows scored; the test figure also counts "
               "latents rarer than 1 in 10,000 rows", "budgets": {}}
for f in sorted(glob.glob("dead/t*.json")):
    name = os.path.basename(f)[:-5]
    m = re.match(r"t(\d+)-(.+)", name)
    budget, label = m.group(1), m.group(2)
    train = json.load(open(f))
    test = json.load(open(f"test-{name}.json"))
    res["budgets"].setdefault(budget, {})[label] = {
        "test_fvu": test["fvu"], "test_dead_fraction": test["dead_fraction"],
        "train_rows_fvu": train["fvu"], "train_rows_dead_fraction": train["dead_fraction"]}
json.dump(res, open(sys.argv[1], "w"), indent=1)
for b, runs in res["budgets"].items():
    for label, r in runs.items():
        print(f"{b:>9} {label:<10} test fvu {r['test_fvu']:.4f} dead {r['test_dead_fraction']:.4f} | "
              f"200k rows dead {r['train_rows_dead_fraction']:.4f}")
PY
echo "wrote $out" >&2
