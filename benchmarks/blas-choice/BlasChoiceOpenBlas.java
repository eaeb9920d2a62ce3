import java.util.Arrays;

/**
 * sgemm GFLOP/s of org.bytedeco:openblas ({@code cblas_sgemm} on off-heap FloatPointers, and on Java arrays, which
 * JavaCPP copies) for [4096 x 768]·[768 x 16384]. Not part of the build: run.sh runs it as a single-file program
 * against the OpenBLAS class path. Prints one JSON line.
 *
 * <p>Usage: {@code java BlasChoiceOpenBlas.java THREADS REPS}
 */
public class BlasChoiceOpenBlas {
    public static void main(String[] args) throws Exception {
        int threads = Integer.parseInt(args[0]);
        int reps = Integer.parseInt(args[1]);
        int m = 4096, k = 768, n = 16384;
        double flops = 2.0 * m * k * n;
        double[] rates = new double[reps];
        double[] arrayRates = new double[0];
            org.bytedeco.openblas.global.openblas_full.openblas_set_num_threads(threads);
            var a = new org.bytedeco.javacpp.FloatPointer((long) m * k);
            var b = new org.bytedeco.javacpp.FloatPointer((long) k * n);
            var c = new org.bytedeco.javacpp.FloatPointer((long) m * n);
            float[] ha = new float[m * k];
            float[] hb = new float[k * n];
            float[] hc = new float[m * n];
            for (int i = 0; i < hb.length; i++) {
                hb[i] = (float) Math.sin(i);
                if (i < ha.length) {
                    ha[i] = (float) Math.cos(i);
                }
            }
            a.put(ha);
            b.put(hb);
            int nt = org.bytedeco.openblas.global.openblas_full.CblasNoTrans;
            int rm = org.bytedeco.openblas.global.openblas_full.CblasRowMajor;
            org.bytedeco.openblas.global.openblas_full.cblas_sgemm(rm, nt, nt, m, n, k, 1f, a, k, b, n, 0f, c, n);
            for (int r = 0; r < reps; r++) {
                long t0 = System.nanoTime();
                org.bytedeco.openblas.global.openblas_full.cblas_sgemm(rm, nt, nt, m, n, k, 1f, a, k, b, n, 0f, c, n);
                rates[r] = flops / ((System.nanoTime() - t0) / 1e9) / 1e9;
            }
            arrayRates = new double[reps];
            for (int r = 0; r < reps; r++) {
                long t0 = System.nanoTime();
                org.bytedeco.openblas.global.openblas_full.cblas_sgemm(rm, nt, nt, m, n, k, 1f, ha, k, hb, n, 0f, hc, n);
                arrayRates[r] = flops / ((System.nanoTime() - t0) / 1e9) / 1e9;
            }
            Arrays.sort(arrayRates);
        Arrays.sort(rates);
        System.out.printf("{\"library\":\"openblas\",\"threads\":%d,\"gflops_median\":%.1f,\"gflops_max\":%.1f%s}%n", threads,
                rates[reps / 2], rates[reps - 1],
                arrayRates.length == 0 ? "" : String.format(",\"java_arrays_gflops_median\":%.1f", arrayRates[reps / 2]));
    }
}
