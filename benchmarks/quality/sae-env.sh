# Sourced by the quality scripts: the OpenBLAS settings ./sae uses (SkylakeX kernels on AVX-512 unless the caller set a
# core type; the thread timeout ./sae sets) and sae(), which runs the CLI jar given to sae_use_jar.
if [ -z "${OPENBLAS_CORETYPE:-}" ] && grep -qw avx512f /proc/cpuinfo; then export OPENBLAS_CORETYPE=SkylakeX; fi
export OPENBLAS_THREAD_TIMEOUT="${OPENBLAS_THREAD_TIMEOUT:-16}"  # as ./sae sets it
sae_use_jar() { SAE_JAR=$1; }
sae() { java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -jar "$SAE_JAR" "$@"; }
