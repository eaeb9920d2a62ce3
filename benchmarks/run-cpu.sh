#!/usr/bin/env bash
# CPU training throughput, measured in one run against the PyTorch peer on the same data, shapes, threads and rows,
# with this machine's sgemm rate for the encoder shape as the roofline. Writes benchmarks/results/cpu-<date>.json.
# Needs Debian python3-torch python3-numpy libopenblas0-openmp (without the OpenBLAS package Debian's torch uses the
# reference BLAS and the comparison means nothing).
#
# Settings (environment): D=768 LATENTS=16384 K=32 BATCH=4096 THREADS=2 STEPS=60 ROWS=200000 WORK=/tmp/saeforge-cpu
# JMH=1 also runs the kernel JMH benchmarks at the same shape (cpu) and a small shape (cpu vs cpu-ref).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
peers="$root/../shared/peers"
D=${D:-768}; LATENTS=${LATENTS:-16384}; K=${K:-32}; BATCH=${BATCH:-4096}; THREADS=${THREADS:-2}; STEPS=${STEPS:-60}
ROWS=${ROWS:-200000}; WORK=${WORK:-/tmp/saeforge-cpu}
TOKENS=$((STEPS * BATCH))
py=/usr/bin/python3
mkdir -p "$WORK" "$root/benchmarks/results"

if grep -qw avx512f /proc/cpuinfo; then export OPENBLAS_CORETYPE=SkylakeX; else unset OPENBLAS_CORETYPE; fi
# As ./sae does: OpenBLAS's idle workers stop spinning ~25 us after a GEMM instead of ~0.1 s (our JVMs only; the
# peer's OpenMP build ignores it and is measured with its default and with OMP_WAIT_POLICY=PASSIVE, the faster counts).
ours_env=(env OPENBLAS_THREAD_TIMEOUT="${OPENBLAS_THREAD_TIMEOUT:-16}")
if ! update-alternatives --display libblas.so.3-x86_64-linux-gnu 2>/dev/null | grep -q openblas; then
  echo "run-cpu.sh: Debian's libblas.so.3 is not OpenBLAS; install libopenblas0-openmp for a meaningful peer" >&2
  exit 1
fi

(cd "$root" && mvn -q -B package -DskipTests)
jar="$root/benchmarks/target/benchmarks.jar"
jvm=("${ours_env[@]}" java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -Xmx8g -cp "$jar")

if [ ! -f "$WORK/syn_${D}.npy" ]; then
  $py "$peers/make_synthetic.py" --d "$D" --n-true 4096 --rows "$ROWS" --avg-active 20 --seed 0 \
      --out "$WORK/syn_${D}.npy" --truth-out "$WORK/truth_${D}.npy" >&2
fi

echo "== sgemm rate" >&2
"${jvm[@]}" org.saeforge.bench.GemmRate "$BATCH" "$D" "$LATENTS" "$THREADS" 9 2>/dev/null | tail -n 1 > "$WORK/gemm.json"
echo "== SAEForge TrainThroughput ($STEPS steps)" >&2
"${jvm[@]}" org.saeforge.bench.TrainThroughput "$WORK/syn_${D}.npy" "$LATENTS" "$K" "$BATCH" "$TOKENS" "$THREADS" 2>/dev/null \
    | tail -n 1 > "$WORK/ours.json"
for policy in default passive; do
  echo "== PyTorch peer ($STEPS steps, OpenMP wait policy: $policy)" >&2
  penv=(env -u OMP_WAIT_POLICY)
  [ "$policy" = passive ] && penv=(env OMP_WAIT_POLICY=PASSIVE)
  "${penv[@]}" /usr/bin/time -v "$py" "$peers/torch_topk.py" --data "$WORK/syn_${D}.npy" --d-sae "$LATENTS" --k "$K" \
      --batch "$BATCH" --tokens "$TOKENS" --threads "$THREADS" --seed 0 --warmup-steps 5 \
      > "$WORK/peer-$policy.json" 2> "$WORK/peer-$policy.time"
done
best=$($py -c "
import json
r = {p: json.load(open('$WORK/peer-' + p + '.json'))['tokens_per_sec'] for p in ('default', 'passive')}
print(max(r, key=r.get))")
cp "$WORK/peer-$best.json" "$WORK/peer.json"
peer_rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$WORK/peer-$best.time")

if [ "${JMH:-0}" = 1 ]; then
  echo "== JMH kernels" >&2
  "${jvm[@]}" org.openjdk.jmh.Main KernelBenchmarks -p dIn="$D" -p numLatents="$LATENTS" -p k="$K" -p batch="$BATCH" \
      -p backend=cpu -p threads="$THREADS" -rf json -rff "$WORK/jmh-cpu.json" >&2
  "${jvm[@]}" org.openjdk.jmh.Main KernelBenchmarks -p dIn=512 -p numLatents=8192 -p k=32 -p batch=1024 \
      -p backend=cpu,cpu-ref -p threads="$THREADS" -wi 1 -i 2 -rf json -rff "$WORK/jmh-ref.json" >&2
fi

out="$root/benchmarks/results/cpu-$(date +%F).json"
$py - "$out" "$peer_rss" "$WORK" <<'PY'
import json, sys, os
out, peer_rss, work = sys.argv[1], float(sys.argv[2]) / 1024, sys.argv[3]
cpu = [l.split(':', 1)[1].strip() for l in open('/proc/cpuinfo') if l.startswith('model name')][0]
flags = [l for l in open('/proc/cpuinfo') if l.startswith('flags')][0].split()
gemm = json.load(open(f"{work}/gemm.json"))
ours = json.load(open(f"{work}/ours.json"))
peer = json.load(open(f"{work}/peer.json"))
flop_per_row = 2 * ours["d_in"] * ours["num_latents"]
res = {
  "benchmark": "CPU TopK training throughput vs PyTorch peer, same data/shapes/threads/rows, one run",
  "machine": {"cpu": cpu, "avx512f": "avx512f" in flags, "avx2": "avx2" in flags,
              "openblas_coretype": os.environ.get("OPENBLAS_CORETYPE", ""), "nproc": os.cpu_count(),
              "openblas_thread_timeout_saeforge": os.environ.get("OPENBLAS_THREAD_TIMEOUT", "16")},
  "shapes": {"d_in": ours["d_in"], "num_latents": ours["num_latents"], "k": ours["k"], "batch": ours["batch"],
             "threads": ours["threads"], "tokens": ours["tokens"]},
  "sgemm": gemm,
  "saeforge": ours,
  "peer": {"rows_per_sec": peer["tokens_per_sec"], "train_seconds": peer["train_seconds"], "fvu": peer["fvu"],
           "peak_rss_mb": peer_rss, "raw": peer,
           "rows_per_sec_by_omp_wait_policy": {p: json.load(open(f"{work}/peer-{p}.json"))["tokens_per_sec"]
                                               for p in ("default", "passive")}},
}
res["summary"] = {
  "rows_per_sec": {"saeforge": ours["rows_per_sec"], "peer": peer["tokens_per_sec"],
                   "ratio": ours["rows_per_sec"] / peer["tokens_per_sec"]},
  "roofline_fraction": ours["rows_per_sec"] * flop_per_row / (gemm["gflops_median"] * 1e9),
  "peak_rss_mb": {"saeforge": ours["peak_rss_mb"], "peer": peer_rss},
  "goal": "rows/s >= 2x peer and >= 70% of the sgemm roofline",
}
for f in ("jmh-cpu.json", "jmh-ref.json"):
    p = f"{work}/{f}"
    if os.path.exists(p):
        res[f[:-5]] = [{"benchmark": b["benchmark"].rsplit(".", 1)[1], "params": b.get("params"),
                        "ms": b["primaryMetric"]["score"], "error": b["primaryMetric"]["scoreError"]}
                       for b in json.load(open(p))]
json.dump(res, open(out, "w"), indent=1)
print(json.dumps(res["summary"], indent=1))
PY
echo "wrote $out" >&2
