#!/usr/bin/env bash
# Scores SAEs on many unseen rows of a synthetic data set, so that latents that never fire can be told from latents
# that fire more rarely than a short evaluation can see. The generator (../shared/peers/make_synthetic.py) draws rows
# in order from its seed, so asking it for USED + UNSEEN rows with the data set's settings gives the same dictionary and
# the same first USED rows (training and test rows, to float rounding), followed by UNSEEN rows no SAE has seen.
# Every SAE is scored by `sae eval` on the first 10k, 100k and all UNSEEN of those rows: dead_fraction (no firing at
# all) and rare_fraction (fired, but on fewer than 1 in 10,000 rows). Writes OUT (JSON).
#
# Settings (environment): D=256 NTRUE=2048 AVG=12 SEED=0 USED=210000 (rows of the data set already generated: training
# plus test rows) UNSEEN=1000000 WORK=/tmp/saeforge-unseen THREADS=2 JAR=sae-cli/target/sae.jar
# OUT=benchmarks/results/dead-on-unseen-rows-<date>.json LABEL="free text for the file"
# Usage: dead-on-unseen-rows.sh RUN_DIR [RUN_DIR...]   (run directories of sae train, or SAELens directories)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
peers="$root/../shared/peers"
D=${D:-256}; NTRUE=${NTRUE:-2048}; AVG=${AVG:-12}; SEED=${SEED:-0}; USED=${USED:-210000}; UNSEEN=${UNSEEN:-1000000}
WORK=${WORK:-/tmp/saeforge-unseen}; THREADS=${THREADS:-2}; JAR=${JAR:-$root/sae-cli/target/sae.jar}
OUT=${OUT:-"$root/benchmarks/results/dead-on-unseen-rows-$(date +%F).json"}; LABEL=${LABEL:-}
py=/usr/bin/python3
[ $# -ge 1 ] || { echo "usage: $0 RUN_DIR [RUN_DIR...]" >&2; exit 2; }
[ -f "$JAR" ] || { echo "$JAR: no such jar (build with: mvn -B -q package -DskipTests)" >&2; exit 2; }
mkdir -p "$WORK"
unseen="$WORK/unseen-d$D-n$NTRUE-a$AVG-s$SEED-from$USED-$UNSEEN.npy"
if [ ! -f "$unseen" ]; then
  echo "== data: make_synthetic.py d=$D n_true=$NTRUE avg_active=$AVG seed=$SEED rows=$USED+$UNSEEN" >&2
  $py "$peers/make_synthetic.py" --d "$D" --n-true "$NTRUE" --rows $((USED + UNSEEN)) --avg-active "$AVG" --seed "$SEED" \
      --out "$WORK/all.npy" --truth-out "$WORK/truth.npy" > "$WORK/synth.json"
  $py -c "
import numpy as np
a = np.load('$WORK/all.npy', mmap_mode='r'); np.save('$unseen.tmp.npy', np.ascontiguousarray(a[$USED:]))"
  mv "$unseen.tmp.npy" "$unseen"
  rm -f "$WORK/all.npy"
fi
. "$root/benchmarks/quality/sae-env.sh"
sae_use_jar "$JAR"
scores="$WORK/scores.jsonl"
: > "$scores"
sizes=()
for n in 10000 100000; do [ "$n" -lt "$UNSEEN" ] && sizes+=("$n"); done
for run in "$@"; do
  for rows in "${sizes[@]}" "$UNSEEN"; do
    echo "== $run on $rows unseen rows" >&2
    line=$(sae eval --sae "$run" --data "$unseen" --truth "$WORK/truth.npy" --max-rows "$rows" --threads "$THREADS" 2>/dev/null | tail -n 1)
    echo "{\"run\": \"$run\", \"rows\": $rows, \"eval\": $line}" >> "$scores"
  done
done
$py - "$scores" "$OUT" "$LABEL" "$D" "$NTRUE" "$AVG" "$SEED" "$USED" "$UNSEEN" <<'PY'
import json, sys
scores, out, label = sys.argv[1], sys.argv[2], sys.argv[3]
d, ntrue, avg, seed, used, unseen = map(int, sys.argv[4:10])
cpu = [l.split(':', 1)[1].strip() for l in open('/proc/cpuinfo') if l.startswith('model name')][0]
res = {"benchmark": "dead and rare latents on unseen rows (sae eval: dead_fraction = no firing, rare_fraction = fired "
                    "on fewer than 1 in 10,000 rows)",
       "label": label, "machine": {"cpu": cpu},
       "data": {"generator": "../shared/peers/make_synthetic.py", "d": d, "n_true": ntrue, "avg_active": avg,
                "seed": seed, "unseen_rows_from": used, "unseen_rows": unseen},
       "runs": {}}
for line in open(scores):
    s = json.loads(line)
    e = s["eval"]
    res["runs"].setdefault(s["run"], {})[str(s["rows"])] = {
        "fvu": e["fvu"], "l0": e["l0"], "dead_fraction": e["dead_fraction"], "rare_fraction": e["rare_fraction"],
        "recovered_fraction": e.get("recovered_fraction")}
json.dump(res, open(out, "w"), indent=1)
for r, v in res["runs"].items():
    print(r, " | ".join(f"{k} rows: dead {x['dead_fraction']:.4f} rare {x['rare_fraction']:.4f}" for k, x in v.items()))
PY
echo "wrote $OUT" >&2
