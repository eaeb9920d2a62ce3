#!/usr/bin/env bash
# Synthetic data at another row width for the learning-rate grids of arch-lr-sweep.sh (docs/training.md, "Defaults at
# d_in 768 and 2048"): ../shared/peers/make_synthetic.py with the peer's defaults but the width, split in order into
# WORK/train.npy (TRAIN rows), WORK/test.npy (10k rows), WORK/unseen.npy (UNSEEN rows, for dead-latent counts:
# `sae eval --sae RUN --data WORK/unseen.npy`) and WORK/truth.npy.
#
# Settings (environment): WORK=/tmp/saeforge-d768 D=768 NTRUE=4096 AVG=20 SEED=7 TRAIN=1000000 UNSEEN=100000
# Then, e.g.: WORK=/tmp/saeforge-d768 ARCHS="topk batchtopk" LRS="2.7e-3 4e-3 6e-3 1.09e-2" TOKENS=1000000 K=32 \
#   bash benchmarks/quality/arch-lr-sweep.sh
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
WORK=${WORK:-/tmp/saeforge-d768}; D=${D:-768}; NTRUE=${NTRUE:-4096}; AVG=${AVG:-20}; SEED=${SEED:-7}
TRAIN=${TRAIN:-1000000}; UNSEEN=${UNSEEN:-100000}
mkdir -p "$WORK"
if [ -f "$WORK/unseen.npy" ]; then echo "make-width-data.sh: $WORK already holds the data" >&2; exit 0; fi
/usr/bin/python3 "$root/../shared/peers/make_synthetic.py" --d "$D" --n-true "$NTRUE" --avg-active "$AVG" --seed "$SEED" \
    --rows $((TRAIN + 10000 + UNSEEN)) --out "$WORK/all.npy" --truth-out "$WORK/truth.npy" > "$WORK/synth.json"
/usr/bin/python3 - "$WORK" "$TRAIN" <<'PY'
import sys
import numpy as np
work, train = sys.argv[1], int(sys.argv[2])
a = np.load(f"{work}/all.npy", mmap_mode="r")
for name, part in (("train", a[:train]), ("test", a[train:train + 10000]), ("unseen", a[train + 10000:])):
    np.save(f"{work}/{name}.tmp.npy", np.ascontiguousarray(part))
PY
for name in train test unseen; do mv "$WORK/$name.tmp.npy" "$WORK/$name.npy"; done
rm -f "$WORK/all.npy"
cat "$WORK/synth.json"
