#!/usr/bin/env bash
# Measures sgemm GFLOP/s of ND4J 1.0.0-M2.1 and org.bytedeco:openblas 0.3.31-1.5.13 for [4096x768]·[768x16384] on
# this machine, plus the jar sizes each brings, and writes benchmarks/results/blas-choice-<date>.json.
# Downloads ND4J (about 130 MB) into the local Maven repository; neither class path is part of the build.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
work=${WORK:-/tmp/saeforge-blas}
THREADS=${THREADS:-2}; REPS=${REPS:-9}
mkdir -p "$work"
if grep -qw avx512f /proc/cpuinfo; then export OPENBLAS_CORETYPE=SkylakeX; fi

classpath() { # groupId:artifactId:version[:classifier] ... -> class path via a throwaway pom
  local dir="$work/$1"; shift
  mkdir -p "$dir"
  { echo '<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>'
    echo '<groupId>x</groupId><artifactId>x</artifactId><version>1</version><dependencies>'
    for coord in "$@"; do
      IFS=: read -r g a v c <<<"$coord"
      echo "<dependency><groupId>$g</groupId><artifactId>$a</artifactId><version>$v</version>${c:+<classifier>$c</classifier>}</dependency>"
    done
    echo '</dependencies><build><plugins><plugin><groupId>org.apache.maven.plugins</groupId>'
    echo '<artifactId>maven-dependency-plugin</artifactId><version>3.8.1</version></plugin></plugins></build></project>'
  } > "$dir/pom.xml"
  (cd "$dir" && mvn -q -B dependency:build-classpath -Dmdep.outputFile=cp.txt >&2)
  cat "$dir/cp.txt"
}

nd4j_cp=$(classpath nd4j org.nd4j:nd4j-native:1.0.0-M2.1 org.nd4j:nd4j-native:1.0.0-M2.1:linux-x86_64 \
    org.bytedeco:openblas:0.3.19-1.5.7:linux-x86_64 org.bytedeco:javacpp:1.5.7:linux-x86_64)
ob_cp=$(classpath openblas org.bytedeco:openblas:0.3.31-1.5.13 org.bytedeco:openblas:0.3.31-1.5.13:linux-x86_64 \
    org.bytedeco:javacpp:1.5.13 org.bytedeco:javacpp:1.5.13:linux-x86_64)
size_mb() { du -cb $(tr ':' ' ' <<<"$1") | tail -n 1 | awk '{printf "%.1f", $1 / 1048576}'; }

OMP_NUM_THREADS=$THREADS java -cp "$nd4j_cp" "$here/BlasChoiceNd4j.java" "$THREADS" "$REPS" 2>/dev/null | tail -n 1 > "$work/nd4j.json"
java -cp "$ob_cp" "$here/BlasChoiceOpenBlas.java" "$THREADS" "$REPS" 2>/dev/null | tail -n 1 > "$work/openblas.json"

out="$root/benchmarks/results/blas-choice-$(date +%F).json"
/usr/bin/python3 - "$out" "$work" "$(size_mb "$nd4j_cp")" "$(size_mb "$ob_cp")" <<'PY'
import json, sys, os
out, work, nd4j_mb, ob_mb = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
cpu = [l.split(':', 1)[1].strip() for l in open('/proc/cpuinfo') if l.startswith('model name')][0]
flags = [l for l in open('/proc/cpuinfo') if l.startswith('flags')][0].split()
res = {"benchmark": "sgemm [4096x768]·[768x16384], median of repeated calls",
       "machine": {"cpu": cpu, "avx512f": "avx512f" in flags, "openblas_coretype": os.environ.get("OPENBLAS_CORETYPE", "")},
       "nd4j_1.0.0-M2.1": json.load(open(f"{work}/nd4j.json")) | {"jars_mb": nd4j_mb},
       "bytedeco_openblas_0.3.31-1.5.13": json.load(open(f"{work}/openblas.json")) | {"jars_mb": ob_mb}}
json.dump(res, open(out, "w"), indent=1)
print(json.dumps(res, indent=1))
PY
