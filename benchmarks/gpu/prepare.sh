#!/usr/bin/env bash
# Builds benchmarks/gpu/carry/ for a GPU machine that has no JDK and no network: a jlink'ed JDK 17 runtime plus the
# jars run.sh needs (sae-core, sae-train and sae-cli with their tests where GPU tests live, the benchmarks, JCuda with
# only its driver-API native, Jackson, picocli and the progress bar, the JUnit console launcher; no OpenBLAS: the CPU
# comparison run uses the pure-Java GEMM) and the PyTorch peer (../shared/peers/torch_topk.py). Run it here (JDK 17 with
# jmods, Maven; network once for the JUnit console jar), then make one device call:
#     bash benchmarks/gpu/run.sh   with carry = ["benchmarks/gpu/carry"].
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
carry="$root/benchmarks/gpu/carry"
jdk="${JDK17_HOME:-/usr/lib/jvm/java-17-openjdk-amd64}"
console_version=1.14.1
mvn_offline=(-o)

if [ ! -d "$jdk/jmods" ]; then
  echo "prepare.sh: $jdk has no jmods folder; set JDK17_HOME to a JDK 17 with jmods (Debian: openjdk-17-jmods)" >&2
  exit 1
fi
cd "$root"
echo "prepare.sh: building sae-core (with tests jar) and benchmarks" >&2
mvn -B -q "${mvn_offline[@]}" package -DskipTests -pl benchmarks -am

rm -rf "$carry"
mkdir -p "$carry/lib"
cp sae-core/target/sae-core-*-SNAPSHOT.jar sae-core/target/sae-core-*-SNAPSHOT-tests.jar \
   sae-train/target/sae-train-*-SNAPSHOT.jar sae-cli/target/sae-cli-*-SNAPSHOT.jar \
   benchmarks/target/benchmarks-*-SNAPSHOT.jar "$carry/lib/"
# sae-train has no tests jar of its own: its GPU training tests travel as one
jar --create --file "$carry/lib/sae-train-tests.jar" -C sae-train/target/test-classes .

mvn -B -q "${mvn_offline[@]}" dependency:build-classpath -pl sae-core -Dmdep.outputFile="$carry/cp.txt" \
    -Dmdep.includeScope=runtime
tr ':' '\n' < "$carry/cp.txt" | grep -E '/(jackson-(databind|core|annotations)|jcuda)-[0-9][^/]*\.jar$' \
  | grep -v natives | xargs -I{} cp {} "$carry/lib/"
natives="$(tr ':' '\n' < "$carry/cp.txt" | grep -E '/jcuda-natives-[^/]*-linux-x86_64\.jar$')"
rm "$carry/cp.txt"
# the command line: picocli, the progress bar and its terminal library, slf4j (silent)
mvn -B -q "${mvn_offline[@]}" dependency:build-classpath -pl sae-cli -Dmdep.outputFile="$carry/cp.txt" -Dmdep.includeScope=runtime
tr ':' '\n' < "$carry/cp.txt" | grep -E '/(picocli|progressbar|jline-terminal|jline-native|slf4j-api|slf4j-nop)-[0-9][^/]*\.jar$' \
  | xargs -I{} cp {} "$carry/lib/"
rm "$carry/cp.txt"
mkdir -p "$carry/peers"
cp "$root/../shared/peers/torch_topk.py" "$carry/peers/"
# Only libJCudaDriver is used (driver API); the runtime, NVRTC and PTX-compiler natives are 25 MB.
tmp="$(mktemp -d)"
(cd "$tmp" && unzip -q "$natives" 'lib/libJCudaDriver-*' && jar --create --file "$carry/lib/jcuda-natives-driver-only.jar" lib)
rm -rf "$tmp"

console="$HOME/.m2/repository/org/junit/platform/junit-platform-console-standalone/$console_version/junit-platform-console-standalone-$console_version.jar"
if [ ! -f "$console" ]; then
  echo "prepare.sh: fetching the JUnit console launcher $console_version (once)" >&2
  mvn -B -q org.apache.maven.plugins:maven-dependency-plugin:3.8.1:get \
      -Dartifact="org.junit.platform:junit-platform-console-standalone:$console_version"
fi
cp "$console" "$carry/lib/"

# jdk.zipfs lets the JUnit launcher scan jars; Jackson and JUnit touch java.sql / java.desktop only behind
# class-presence checks, so those are left out.
"$jdk/bin/jlink" --add-modules java.base,java.logging,jdk.incubator.vector,jdk.unsupported,jdk.zipfs \
    --strip-debug --no-man-pages --no-header-files --compress=2 --output "$carry/jre"

"$carry/jre/bin/java" -version 2>&1 | head -1 >&2
echo "prepare.sh: carry $(du -sh "$carry" | cut -f1) (jre $(du -sh "$carry/jre" | cut -f1), jars $(du -sh "$carry/lib" | cut -f1))" >&2
tracked=$(git ls-files -z | xargs -0 du -cb 2>/dev/null | tail -1 | cut -f1)
echo "prepare.sh: tracked files $((tracked / 1024)) KiB; a device call carries both (limit 64 MiB)" >&2
