#!/usr/bin/env bash
# Synthetic data at another row width for the learning-rate grids of arch-lr-sweep.sh (docs/training.md, "Defaults at
# d_in 768 and 2048"): ../shared/peers/make_synthetic.py with the peer's defaults but the width, split in order into
# WORK/train.npy (TRAIN rows), WORK/test.npy (10k rows), WORK/unseen.npy (UNSEEN rows, for dead-latent counts:
# `sae eval --sae RUN --data WORK/unseen.npy`) and WORK/truth.npy.
# MORE=N draws N more training rows after the unseen ones (train.npy = the TRAIN rows, then those). Rows before the
# generator's last partial chunk without MORE (it draws 8,192 rows at a time) stay those of the data without MORE: at
# the defaults every training and test row and all but the last 4,080 unseen rows. The rows are then generated on
# disk (make_synthetic_on_disk.py), as 3M rows of width 768 would need about 20 GB of RAM in the peer's generator.
# docs/training.md, "TopK: the best rate depends on the dictionary's size", used MORE=2000000 (3M unique training
# rows at d_in 768; its unseen rows were those of the data without MORE).
#
# Settings (environment): WORK=/tmp/saeforge-d768 D=768 NTRUE=4096 AVG=20 SEED=7 TRAIN=1000000 UNSEEN=100000 MORE=0
# Then, e.g.: WORK=/tmp/saeforge-d768 ARCHS="topk batchtopk" LRS="2.7e-3 4e-3 6e-3 1.09e-2" TOKENS=1000000 K=32 \
#   bash benchmarks/quality/arch-lr-sweep.sh
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
WORK=${WORK:-/tmp/saeforge-d768}; D=${D:-768}; NTRUE=${NTRUE:-4096}; AVG=${AVG:-20}; SEED=${SEED:-7}
TRAIN=${TRAIN:-1000000}; UNSEEN=${UNSEEN:-100000}; MORE=${MORE:-0}
mkdir -p "$WORK"
if [ -f "$WORK/unseen.npy" ]; then echo "make-width-data.sh: $WORK already holds the data" >&2; exit 0; fi
generator="$root/../shared/peers/make_synthetic.py"
[ "$MORE" -gt 0 ] && generator="$root/benchmarks/quality/make_synthetic_on_disk.py"
/usr/bin/python3 "$generator" --d "$D" --n-true "$NTRUE" --avg-active "$AVG" --seed "$SEED" \
    --rows $((TRAIN + 10000 + UNSEEN + MORE)) --out "$WORK/all.npy" --truth-out "$WORK/truth.npy" > "$WORK/synth.json"
/usr/bin/python3 - "$WORK" "$TRAIN" "$UNSEEN" "$MORE" <<'PY'
import sys
import numpy as np
work, train, unseen, more = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
a = np.load(f"{work}/all.npy", mmap_mode="r")
held = train + 10000 + unseen
for name, part in (("test", a[train:train + 10000]), ("unseen", a[train + 10000:held])):
    np.save(f"{work}/{name}.tmp.npy", np.ascontiguousarray(part))
out = np.lib.format.open_memmap(f"{work}/train.tmp.npy", mode="w+", dtype=a.dtype, shape=(train + more, a.shape[1]))


def copy(to, start, n, step=100_000):  # n rows of a from start to out at to, a block at a time
    for s in range(0, n, step):
        out[to + s:to + min(n, s + step)] = a[start + s:start + min(n, s + step)]


copy(0, 0, train)
copy(train, held, more)
out.flush()
PY
for name in train test unseen; do mv "$WORK/$name.tmp.npy" "$WORK/$name.npy"; done
rm -f "$WORK/all.npy"
cat "$WORK/synth.json"
