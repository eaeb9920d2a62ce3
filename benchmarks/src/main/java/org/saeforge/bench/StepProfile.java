package org.saeforge.bench;

import java.util.LinkedHashMap;
import java.util.Map;
import org.saeforge.core.kernels.AdamStep;
import org.saeforge.core.kernels.Kernels;
import org.saeforge.core.kernels.cpu.CpuKernels;
import org.saeforge.core.model.SaeConfig;
import org.saeforge.core.model.SparseAutoencoder;
import org.saeforge.core.tensor.FloatMatrix;
import org.saeforge.core.tensor.SparseCodes;
import org.saeforge.core.kernels.RowGradientSource;
import org.saeforge.core.kernels.Revival;
import org.saeforge.train.AdamOptimizer;
import org.saeforge.train.Gradients;
import org.saeforge.train.Objective;
import org.saeforge.train.Initializer;
import org.saeforge.train.TopKObjective;

/**
 * Where a training step's time goes: runs each kernel of a TopK step (and revival's step) on its own at a given shape and
 * prints the median milliseconds per phase (a diagnostic for optimisation work; the throughput figures come from {@link TrainThroughput}).
 *
 * <p>Usage: {@code java ... org.saeforge.bench.StepProfile [dIn numLatents k batch threads reps]}
 */
public final class StepProfile {
    private StepProfile() {
    }

    public static void main(String[] args) {
        int dIn = args.length > 0 ? Integer.parseInt(args[0]) : 768;
        int n = args.length > 1 ? Integer.parseInt(args[1]) : 16384;
        int k = args.length > 2 ? Integer.parseInt(args[2]) : 32;
        int batch = args.length > 3 ? Integer.parseInt(args[3]) : 4096;
        int threads = args.length > 4 ? Integer.parseInt(args[4]) : 2;
        int reps = args.length > 5 ? Integer.parseInt(args[5]) : 5;
        FloatMatrix x = FloatMatrix.random(batch, dIn, 1, 1f);
        SparseAutoencoder sae = Initializer.init(SaeConfig.topK(dIn, n, k), x, 0);
        Map<String, double[]> times = new LinkedHashMap<>();
        try (CpuKernels kernels = new CpuKernels(threads)) {
            SparseCodes codes = SparseCodes.fixedK(batch, n, k);
            FloatMatrix xHat = new FloatMatrix(batch, dIn);
            float[] dv = new float[batch * k];
            float[] m = new float[n * dIn];
            float[] v = new float[n * dIn];
            TopKObjective objective = new TopKObjective(batch, dIn, n, k, dIn / 2, 1.0 / 32);
            FloatMatrix pre = new FloatMatrix(batch, n);
            FloatMatrix grad = new FloatMatrix(batch, dIn);
            Gradients biases = Gradients.biasesOnly(n, dIn);
            AdamOptimizer adam = new AdamOptimizer(n, dIn);
            Objective.StepInputs in = new Objective.StepInputs(k, 1, new int[0], 0);
            SparseAutoencoder revived = sae.copy();
            long after = 8L * n / k;
            long[] since = new long[n];
            for (int j = 0; j < n; j += 10) {
                since[j] = after + 1;
            }
            float[] meanOffset = new float[dIn];
            for (int rep = 0; rep < reps; rep++) {
                int r = rep;
                time(times, "encode(gemm+topk)", reps, r, () -> kernels.encode(x, sae, codes, null));
                time(times, "matmulNT (gemm+copy out)", reps, r, () -> kernels.matmulNT(x, sae.wEncT(), pre));
                time(times, "decodeLossGradient", reps, r,
                        () -> kernels.decodeLossGradient(codes, sae.wDec(), sae.bDec(), x, 1e-3f, xHat, grad, dv));
                RowGradientSource dec = new RowGradientSource(codes, codes.values(), grad, null);
                RowGradientSource enc = new RowGradientSource(codes, dv, x, sae.bDec());
                time(times, "sparseRowAdam(dec)", reps, r, () -> kernels.sparseRowAdam(sae.wDec(), m, v, AdamStep.of(1e-5f, r + 1), true, dec));
                time(times, "sparseRowAdam(enc)", reps, r, () -> kernels.sparseRowAdam(sae.wEncT(), m, v, AdamStep.of(1e-5f, r + 1), false, enc));
                time(times, "fused TopK step", reps, r, () -> {
                    objective.prepareFused(kernels, sae, x, in, biases);
                    objective.applyFused(kernels, sae, adam, biases, 1e-5);
                });
                // revival's per-step work with a tenth of the latents silent (its cost is O(numLatents · dIn) whatever
                // the share: the norm pass covers the others); on a copy, so the other phases see the same weights
                time(times, "revival (bias+encoder)", reps, r, () -> {
                    Revival.apply(revived.bEnc(), since, null, batch, n, after, codes.values(), codes.nnz(), 0.02);
                    Revival.meanOffset(x.data(), batch, dIn, dIn, revived.bDec(), meanOffset);
                    Revival.reviveEncoder(revived.wEncT().data(), n, dIn, dIn, since, null, batch, after, meanOffset, Revival.growth(1e-3));
                });
            }
            System.out.printf("shape dIn %d, numLatents %d, k %d, batch %d, threads %d, gemm %s%n", dIn, n, k, batch, threads,
                    kernels.gemmName());
        }
        for (Map.Entry<String, double[]> e : times.entrySet()) {
            double[] t = e.getValue().clone();
            java.util.Arrays.sort(t);
            System.out.printf("%-22s %8.1f ms (median of %d)%n", e.getKey(), t[t.length / 2], t.length);
        }
    }

    private static void time(Map<String, double[]> times, String name, int reps, int r, Runnable body) {
        long t0 = System.nanoTime();
        body.run();
        times.computeIfAbsent(name, x -> new double[reps])[r] = (System.nanoTime() - t0) / 1e6;
    }
}
