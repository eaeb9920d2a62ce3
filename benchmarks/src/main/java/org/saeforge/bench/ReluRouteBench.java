package org.saeforge.bench;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import org.saeforge.core.kernels.cpu.CpuKernels;
import org.saeforge.core.model.Architecture;
import org.saeforge.core.model.SaeConfig;
import org.saeforge.core.model.SparseAutoencoder;
import org.saeforge.core.tensor.FloatMatrix;
import org.saeforge.train.Gradients;
import org.saeforge.train.Initializer;
import org.saeforge.train.Objective;
import org.saeforge.train.ReluL1Objective;

/**
 * The ReLU objective's two routes (sparse kernels over the active entries; dense products over every latent) timed
 * on one step at a range of shares of active codes, to place {@link ReluL1Objective#DENSE_ABOVE}. The encoder biases
 * are set per latent so that each fires on the given share of the batch's rows. Prints one JSON line: the machine, the
 * shape and the median milliseconds per step of each route at each share.
 *
 * <p>Usage: {@code java ... org.saeforge.bench.ReluRouteBench [dIn numLatents batch threads reps]}
 */
public final class ReluRouteBench {
    private ReluRouteBench() {
    }

    public static void main(String[] args) throws Exception {
        int dIn = args.length > 0 ? Integer.parseInt(args[0]) : 256;
        int n = args.length > 1 ? Integer.parseInt(args[1]) : 4096;
        int batch = args.length > 2 ? Integer.parseInt(args[2]) : 4096;
        int threads = args.length > 3 ? Integer.parseInt(args[3]) : 2;
        int reps = args.length > 4 ? Integer.parseInt(args[4]) : 5;
        double[] shares = {0.005, 0.01, 0.02, 0.035, 0.05, 0.075, 0.1, 0.2, 0.5, 1.0};
        FloatMatrix x = FloatMatrix.random(batch, dIn, 1, 1f);
        SparseAutoencoder init = Initializer.init(new SaeConfig(Architecture.RELU, dIn, n, 0, true, java.util.Map.of()), x, 0);
        List<String> rows = new ArrayList<>();
        String gemm;
        try (CpuKernels kernels = new CpuKernels(threads)) {
            gemm = kernels.gemmName();
            FloatMatrix pre = new FloatMatrix(batch, n);
            FloatMatrix xc = x.copy();
            for (int r = 0; r < batch; r++) {
                for (int i = 0; i < dIn; i++) {
                    xc.data()[r * dIn + i] -= init.bDec()[i];
                }
            }
            kernels.matmulNT(xc, init.wEncT(), pre);
            float[] column = new float[batch];
            for (double share : shares) {
                float[] bEnc = new float[n];
                int rank = (int) Math.min(batch - 1, Math.max(0, Math.round(batch * (1 - share))));
                for (int j = 0; j < n; j++) {
                    for (int r = 0; r < batch; r++) {
                        column[r] = pre.data()[r * n + j];
                    }
                    Arrays.sort(column);
                    // fires where pre-activation + bias > 0: on the rows above the (1 − share) quantile
                    bEnc[j] = share >= 1 ? 1f - column[0] : -column[rank];
                }
                SparseAutoencoder sae = new SparseAutoencoder(init.config(), init.wEncT(), bEnc, init.wDec(), init.bDec(), null);
                double[] ms = new double[2];
                double l0 = 0;
                for (int route = 0; route < 2; route++) {
                    ReluL1Objective o = new ReluL1Objective(batch, dIn, n, 5, 0, route == 0 ? 1 : 0);
                    Gradients g = new Gradients(n, dIn);
                    Objective.StepInputs in = new Objective.StepInputs(0, 0.5, new int[0], 0);
                    double[] t = new double[reps];
                    for (int rep = -1; rep < reps; rep++) {
                        long t0 = System.nanoTime();
                        l0 = o.lossAndGradient(kernels, sae, x, in, g).l0();
                        if (rep >= 0) {
                            t[rep] = (System.nanoTime() - t0) / 1e6;
                        }
                    }
                    if (o.denseSteps() != (route == 1 ? reps + 1 : 0)) {
                        throw new IllegalStateException("route " + route + " did not run as asked");
                    }
                    Arrays.sort(t);
                    ms[route] = t[reps / 2];
                }
                rows.add(String.format(Locale.ROOT, "{\"share_target\":%s,\"l0\":%.1f,\"share\":%.4f,\"sparse_ms\":%.1f,\"dense_ms\":%.1f}",
                        share, l0, l0 / n, ms[0], ms[1]));
                System.err.println(rows.get(rows.size() - 1));
            }
        }
        String cpu = Files.readAllLines(Path.of("/proc/cpuinfo")).stream().filter(l -> l.startsWith("model name"))
                .map(l -> l.substring(l.indexOf(':') + 1).trim()).findFirst().orElse("?");
        boolean avx512 = Files.readString(Path.of("/proc/cpuinfo")).contains(" avx512f");
        System.out.println(String.format(Locale.ROOT,
                "{\"benchmark\":\"ReLU objective step: sparse route vs dense route by share of active codes\",\"machine\":{\"cpu\":\"%s\",\"avx512f\":%s,\"threads\":%d},"
                        + "\"shape\":{\"d_in\":%d,\"num_latents\":%d,\"batch\":%d},\"gemm\":\"%s\",\"reps\":%d,\"dense_above\":%s,\"rows\":[%s]}",
                cpu, avx512, threads, dIn, n, batch, gemm, reps, ReluL1Objective.DENSE_ABOVE, String.join(",", rows)));
    }
}
