package org.saeforge.bench;

import static org.bytedeco.openblas.global.openblas_full.CblasNoTrans;
import static org.bytedeco.openblas.global.openblas_full.CblasRowMajor;
import static org.bytedeco.openblas.global.openblas_full.CblasTrans;
import static org.bytedeco.openblas.global.openblas_full.cblas_sgemm;
import static org.bytedeco.openblas.global.openblas_full.openblas_get_corename;
import static org.bytedeco.openblas.global.openblas_full.openblas_set_num_threads;

import java.util.Arrays;
import org.bytedeco.javacpp.FloatPointer;

/**
 * This machine's sgemm rate for the encoder shape ([batch x dIn] · [dIn x numLatents], B given latent-major as in
 * training), through OpenBLAS on off-heap buffers: the roofline the training throughput is compared with.
 * Prints one JSON object with the median GFLOP/s of several runs.
 *
 * <p>Usage: {@code GemmRate [batch dIn numLatents threads reps]}
 */
public final class GemmRate {
    private GemmRate() {
    }

    public static void main(String[] args) {
        int m = args.length > 0 ? Integer.parseInt(args[0]) : 4096;
        int k = args.length > 1 ? Integer.parseInt(args[1]) : 768;
        int n = args.length > 2 ? Integer.parseInt(args[2]) : 16384;
        int threads = args.length > 3 ? Integer.parseInt(args[3]) : 2;
        int reps = args.length > 4 ? Integer.parseInt(args[4]) : 7;
        openblas_set_num_threads(threads);
        float[] init = new float[Math.max(m, n) * k];
        for (int i = 0; i < init.length; i++) {
            init[i] = (float) Math.sin(i * 0.37);
        }
        try (FloatPointer a = new FloatPointer((long) m * k); FloatPointer b = new FloatPointer((long) n * k);
             FloatPointer c = new FloatPointer((long) m * n)) {
            a.put(init, 0, m * k);
            b.put(init, 0, n * k);
            double[] rates = new double[reps];
            double flops = 2.0 * m * k * n;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1f, a, k, b, k, 0f, c, n);
            for (int r = 0; r < reps; r++) {
                long t0 = System.nanoTime();
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1f, a, k, b, k, 0f, c, n);
                rates[r] = flops / ((System.nanoTime() - t0) / 1e9) / 1e9;
            }
            Arrays.sort(rates);
            System.out.printf("{\"m\":%d,\"k\":%d,\"n\":%d,\"threads\":%d,\"core\":\"%s\",\"gflops_median\":%.1f,\"gflops_max\":%.1f}%n", m, k, n,
                    threads, openblas_get_corename().getString().trim(), rates[reps / 2], rates[reps - 1]);
        }
    }
}
