package org.saeforge.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.stream.IntStream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.ValueSource;
import org.saeforge.core.kernels.Kernels;
import org.saeforge.core.kernels.cpu.CpuKernels;
import org.saeforge.core.kernels.cpu.ReferenceKernels;
import org.saeforge.core.model.Architecture;
import org.saeforge.core.model.SaeConfig;
import org.saeforge.core.model.SparseAutoencoder;
import org.saeforge.core.tensor.FloatMatrix;
import org.saeforge.core.testing.TestData;

/**
 * The analytic gradients of {@link BatchTopKObjective} (plain and Matryoshka), {@link JumpReluObjective} and
 * {@link ReluL1Objective} against central finite differences of the same losses written independently in float64, on
 * tiny shapes, with the discrete choices (selections, active sets) frozen at the unperturbed point. The JumpReLU
 * threshold has no true gradient (the loss is piecewise constant in it); its straight-through gradient is checked against
 * its defining formula, with ∂loss/∂z taken by finite differences too. Then each objective on the fast CPU kernels
 * against the same objective on the reference kernels.
 */
class ArchitectureGradientTest {
    static final int B = 7;
    static final int D = 6;
    static final int N = 11;
    static final int K = 3;
    static final int K_AUX = 2;
    static final double AUX_COEF = 0.5;
    static final int[] DEAD = {1, 4, 6, 9};
    static final double TOL = 2e-3;

    static Kernels kernels(String backend) {
        return "cpu".equals(backend) ? new CpuKernels(2) : new ReferenceKernels();
    }

    static double[] pre(SparseAutoencoder s, FloatMatrix x, int r) {
        boolean sub = s.config().applyBDecToInput();
        double[] pre = new double[s.numLatents()];
        for (int j = 0; j < pre.length; j++) {
            double v = s.bEnc()[j];
            for (int i = 0; i < s.dIn(); i++) {
                v += ((double) x.get(r, i) - (sub ? s.bDec()[i] : 0)) * s.wEncT().get(j, i);
            }
            pre[j] = v;
        }
        return pre;
    }

    /** bDec + Σ_j z_j wDec[j] over the given latents, z_j = value(pre_j). */
    static double[] decode(SparseAutoencoder s, double[] z, int[] latents) {
        double[] out = new double[s.dIn()];
        for (int i = 0; i < out.length; i++) {
            out[i] = s.bDec()[i];
        }
        for (int j : latents) {
            for (int i = 0; i < out.length; i++) {
                out[i] += z[j] * s.wDec().get(j, i);
            }
        }
        return out;
    }

    static double sq(double[] a, FloatMatrix x, int r) {
        double s = 0;
        for (int i = 0; i < a.length; i++) {
            s += (a[i] - x.get(r, i)) * (a[i] - x.get(r, i));
        }
        return s;
    }

    static double totalVariance(FloatMatrix x) {
        double tv = 0;
        for (int i = 0; i < x.cols(); i++) {
            double mean = 0;
            for (int r = 0; r < x.rows(); r++) {
                mean += x.get(r, i) / (double) x.rows();
            }
            for (int r = 0; r < x.rows(); r++) {
                tv += (x.get(r, i) - mean) * (x.get(r, i) - mean);
            }
        }
        return tv;
    }

    static double[] relu(double[] v) {
        return Arrays.stream(v).map(a -> Math.max(0, a)).toArray();
    }

    static int[] topAmong(double[] v, int[] cand, int k) {
        return Arrays.stream(cand).boxed().sorted((a, b) -> Double.compare(v[b], v[a])).limit(k).mapToInt(Integer::intValue).toArray();
    }

    /** A loss of the SAE's current weights. */
    interface Loss {
        double at(SparseAutoencoder s);
    }

    /** Central differences over every element of every parameter array, in double, restoring them afterwards. */
    static double[][] finiteDifferences(SparseAutoencoder s, Loss loss) {
        float[][] params = {s.wEncT().data(), s.bEnc(), s.wDec().data(), s.bDec()};
        double[][] out = new double[4][];
        for (int p = 0; p < 4; p++) {
            float[] a = params[p];
            out[p] = new double[a.length];
            for (int i = 0; i < a.length; i++) {
                float orig = a[i];
                float h = Math.max(1e-3f, Math.abs(orig) * 1e-3f);
                a[i] = orig + h;
                double up = loss.at(s);
                a[i] = orig - h;
                double down = loss.at(s);
                a[i] = orig;
                out[p][i] = (up - down) / ((double) (orig + h) - (double) (orig - h));
            }
        }
        return out;
    }

    static void assertGradients(String what, Gradients g, double[][] fd) {
        float[][] analytic = {g.wEncT().data(), g.bEnc(), g.wDec().data(), g.bDec()};
        String[] names = {"wEncT", "bEnc", "wDec", "bDec"};
        for (int p = 0; p < 4; p++) {
            double err = GradientCheckTest.relErr(analytic[p], fd[p]);
            assertTrue(err < TOL, what + " " + names[p] + " relative error " + err);
            assertTrue(Arrays.stream(fd[p]).anyMatch(v -> Math.abs(v) > 1e-6), what + " " + names[p] + " gradient is not trivially zero");
        }
    }

    /** The batch top-(k·B) selection at the SAE's current weights, per row. */
    static int[][] batchSelection(SparseAutoencoder s, FloatMatrix x, int kTotal) {
        List<double[]> entries = new ArrayList<>();
        for (int r = 0; r < B; r++) {
            double[] p = pre(s, x, r);
            for (int j = 0; j < N; j++) {
                if (p[j] > 0) {
                    entries.add(new double[] {p[j], r, j});
                }
            }
        }
        entries.sort(Comparator.comparingDouble(e -> -e[0]));
        int[][] sel = new int[B][];
        for (int r = 0; r < B; r++) {
            int row = r;
            sel[r] = entries.stream().limit(kTotal).filter(e -> e[1] == row).mapToInt(e -> (int) e[2]).sorted().toArray();
        }
        return sel;
    }

    @ParameterizedTest
    @ValueSource(strings = {"cpu-ref", "cpu"})
    void batchTopKAndMatryoshkaGradients(String backend) {
        for (int[] ends : new int[][] {{N}, {3, 7, N}}) {
            SparseAutoencoder sae = TestData.randomSae(Architecture.BATCH_TOPK, D, N, 0, 42);
            FloatMatrix x = FloatMatrix.random(B, D, 43, 1.5f);
            SparseAutoencoder probe = sae.copy();
            int[][] sel = batchSelection(probe, x, K * B);
            int[] dead = DEAD;
            double tv = totalVariance(x);
            int[][] aux = new int[B][];
            double[][] residual = new double[B][];
            for (int r = 0; r < B; r++) {
                double[] p = pre(probe, x, r);
                aux[r] = topAmong(p, dead, K_AUX);
                double[] xh = decode(probe, relu(p), sel[r]);
                residual[r] = new double[D];
                for (int i = 0; i < D; i++) {
                    residual[r][i] = x.get(r, i) - xh[i];
                }
            }
            Loss loss = s -> {
                double rec = 0;
                double auxSse = 0;
                for (int r = 0; r < B; r++) {
                    double[] z = relu(pre(s, x, r));
                    for (int end : ends) {
                        int[] prefix = Arrays.stream(sel[r]).filter(j -> j < end).toArray();
                        rec += sq(decode(s, z, prefix), x, r) / ends.length;
                    }
                    double[] eh = decode(s, z, aux[r]);
                    for (int i = 0; i < D; i++) {
                        auxSse += (eh[i] - residual[r][i]) * (eh[i] - residual[r][i]);
                    }
                }
                double scale = Math.min((double) dead.length / K_AUX, 1.0);
                return rec / tv + AUX_COEF * scale * auxSse / tv;
            };
            double[][] fd = finiteDifferences(probe, loss);
            BatchTopKObjective objective = new BatchTopKObjective(B, D, N, K, ends, K_AUX, AUX_COEF);
            Gradients g = new Gradients(N, D);
            StepStats stats;
            try (Kernels kernels = kernels(backend)) {
                stats = objective.lossAndGradient(kernels, sae, x, new Objective.StepInputs(K, 1, dead, dead.length), g);
            }
            assertEquals(K * B, objective.codes().nnz(), "k x batch selected");
            assertEquals(loss.at(probe), stats.loss(), 1e-4 * loss.at(probe), "loss value");
            assertGradients(backend + " prefixes " + Arrays.toString(ends), g, fd);
            if (ends.length > 1) {
                assertEquals(ends.length, stats.prefixFvu().length);
                for (int e = 0; e < ends.length; e++) {
                    int end = ends[e];
                    double sse = 0;
                    for (int r = 0; r < B; r++) {
                        sse += sq(decode(probe, relu(pre(probe, x, r)), Arrays.stream(sel[r]).filter(j -> j < end).toArray()), x, r);
                    }
                    assertEquals(sse / tv, stats.prefixFvu()[e], 1e-4 * sse / tv, "FVU of prefix " + end);
                }
            }
        }
    }

    /** relief 3/7: latents firing on 1 or 2 of the 7 rows pay a third or two thirds of their L1 term. */
    @ParameterizedTest
    @CsvSource({"cpu-ref, sparse, 0", "cpu-ref, dense, 0", "cpu, sparse, 0", "cpu, dense, 0",
        "cpu-ref, sparse, 0.42857142857142855", "cpu-ref, dense, 0.42857142857142855", "cpu, sparse, 0.42857142857142855",
        "cpu, dense, 0.42857142857142855"})
    void reluL1Gradient(String backend, String route, double relief) {
        SparseAutoencoder base = TestData.randomSae(Architecture.RELU, D, N, 0, 7);
        SparseAutoencoder sae = new SparseAutoencoder(new SaeConfig(Architecture.RELU, D, N, 0, false, Map.of()), base.wEncT(), base.bEnc(),
                base.wDec(), base.bDec(), null);
        FloatMatrix x = FloatMatrix.random(B, D, 8, 1.5f);
        double lambda = 0.3;
        SparseAutoencoder probe = sae.copy();
        int[][] active = new int[B][];
        for (int r = 0; r < B; r++) {
            double[] p = pre(probe, x, r);
            active[r] = IntStream.range(0, N).filter(j -> p[j] > 0).toArray();
        }
        double[] weight = new double[N];
        int relieved = 0;
        for (int j = 0; j < N; j++) {
            int fired = 0;
            for (int[] row : active) {
                for (int a : row) {
                    fired += a == j ? 1 : 0;
                }
            }
            weight[j] = relief > 0 ? Math.min(1.0, fired / (relief * B)) : 1;
            relieved += fired > 0 && weight[j] < 1 ? 1 : 0;
        }
        if (relief > 0) {
            assertTrue(relieved >= 2, "latents firing on fewer than 3 rows, to test the relief on: " + relieved);
        }
        Loss loss = s -> {
            double total = 0;
            for (int r = 0; r < B; r++) {
                double[] z = pre(s, x, r);
                total += sq(decode(s, z, active[r]), x, r) / B;
                for (int j : active[r]) {
                    double norm = 0;
                    for (int i = 0; i < D; i++) {
                        norm += (double) s.wDec().get(j, i) * s.wDec().get(j, i);
                    }
                    total += lambda / B * weight[j] * z[j] * Math.sqrt(norm);
                }
            }
            return total;
        };
        double[][] fd = finiteDifferences(probe, loss);
        Gradients g = new Gradients(N, D);
        StepStats stats;
        try (Kernels kernels = kernels(backend)) {
            ReluL1Objective objective = new ReluL1Objective(B, D, N, lambda, relief, "dense".equals(route) ? 0 : 1, 3);
            stats = objective.lossAndGradient(kernels, sae, x, new Objective.StepInputs(0, 1, DEAD, 0), g);
            assertEquals("dense".equals(route) ? 1 : 0, objective.denseSteps(), "steps on the dense route");
        }
        assertEquals(loss.at(probe), stats.loss(), 1e-4 * loss.at(probe), "loss value");
        assertTrue(stats.sparsity() > 0);
        assertGradients(backend + " " + route + " relu", g, fd);
    }

    @ParameterizedTest
    @ValueSource(strings = {"cpu-ref", "cpu"})
    void jumpReluGradients(String backend) {
        SparseAutoencoder sae = TestData.randomSae(Architecture.JUMPRELU, D, N, 0, 21);
        FloatMatrix x = FloatMatrix.random(B, D, 22, 1.5f);
        double bandwidth = 0.4;
        double half = bandwidth / 2;
        int target = 3;
        double lambda = 0.7;
        SparseAutoencoder probe = sae.copy();
        float[] theta = probe.threshold();
        int[][] active = new int[B][];
        double[][] pres = new double[B][];
        int activeCount = 0;
        int inBand = 0;
        for (int r = 0; r < B; r++) {
            double[] p = pre(probe, x, r);
            pres[r] = p;
            active[r] = IntStream.range(0, N).filter(j -> p[j] > theta[j]).toArray();
            activeCount += active[r].length;
            for (int j = 0; j < N; j++) {
                inBand += Math.abs(p[j] - theta[j]) < half ? 1 : 0;
            }
        }
        assertTrue(inBand >= 5, "enough entries near the thresholds to test: " + inBand);
        double tv = totalVariance(x);
        Loss rec = s -> {
            double total = 0;
            for (int r = 0; r < B; r++) {
                total += sq(decode(s, pre(s, x, r), active[r]), x, r) / tv;
            }
            return total;
        };
        double[][] fd = finiteDifferences(probe, rec);

        // the straight-through threshold gradient from its definition; dLoss/dz by finite differences of the decode
        double l0 = (double) activeCount / B;
        double dPenalty = 2 * lambda * (l0 / target - 1) / target;
        double[] expected = new double[N];
        for (int r = 0; r < B; r++) {
            for (int j = 0; j < N; j++) {
                if (Math.abs(pres[r][j] - theta[j]) >= half) {
                    continue;
                }
                double[] z = new double[N];
                for (int a : active[r]) {
                    z[a] = pres[r][a];
                }
                int[] withJ = IntStream.concat(Arrays.stream(active[r]), IntStream.of(j)).distinct().toArray();
                double h = 1e-4;
                double zj = z[j];
                z[j] = zj + h;
                double up = sq(decode(probe, z, withJ), x, r) / tv;
                z[j] = zj - h;
                double down = sq(decode(probe, z, withJ), x, r) / tv;
                double dz = (up - down) / (2 * h);
                expected[j] += -(theta[j] / bandwidth) * dz - dPenalty / (bandwidth * B);
            }
        }
        for (int j = 0; j < N; j++) {
            expected[j] *= theta[j];
        }

        Gradients g = new Gradients(N, D, true);
        StepStats stats;
        try (Kernels kernels = kernels(backend)) {
            stats = new JumpReluObjective(B, D, N, bandwidth, target, lambda)
                    .lossAndGradient(kernels, sae, x, new Objective.StepInputs(0, 1, DEAD, 0), g);
        }
        assertEquals(l0, stats.l0(), 1e-12);
        assertEquals(rec.at(probe) + lambda * (l0 / target - 1) * (l0 / target - 1), stats.loss(), 1e-4 * stats.loss(), "loss value");
        assertGradients(backend + " jumprelu", g, fd);
        double err = GradientCheckTest.relErr(g.logThreshold(), expected);
        assertTrue(err < TOL, "log-threshold gradient relative error " + err + ": " + Arrays.toString(g.logThreshold()) + " vs "
                + Arrays.toString(expected));
        assertTrue(Arrays.stream(expected).anyMatch(v -> Math.abs(v) > 1e-6), "threshold gradient is not trivially zero");
    }

    /** Each objective's gradients on the CPU fast path against the reference kernels, on a larger batch. */
    @ParameterizedTest
    @EnumSource(Architecture.class)
    void cpuFastPathMatchesReference(Architecture arch) {
        int b = 64;
        int d = 40;
        int n = 300;
        int k = 8;
        SparseAutoencoder sae = TestData.randomSae(arch, d, n, k, 5);
        if (arch == Architecture.RELU) {
            sae = new SparseAutoencoder(new SaeConfig(arch, d, n, 0, false, Map.of()), sae.wEncT(), sae.bEnc(), sae.wDec(), sae.bDec(), null);
        }
        FloatMatrix x = FloatMatrix.random(b, d, 6, 1.5f);
        int[] dead = IntStream.range(0, n).filter(j -> j % 7 == 3).toArray();
        Gradients[] g = new Gradients[2];
        StepStats[] stats = new StepStats[2];
        for (int i = 0; i < 2; i++) {
            Objective objective = switch (arch) {
                case TOPK -> new TopKObjective(b, d, n, k, d / 2, 1.0 / 32);
                case BATCH_TOPK -> new BatchTopKObjective(b, d, n, k, new int[] {n}, d / 2, 1.0 / 32);
                case MATRYOSHKA -> new BatchTopKObjective(b, d, n, k, new int[] {20, 75, 150, n}, d / 2, 1.0 / 32);
                case JUMPRELU -> new JumpReluObjective(b, d, n, 0.05, k, 1.0);
                case RELU -> new ReluL1Objective(b, d, n, 5);
            };
            g[i] = new Gradients(n, d, arch == Architecture.JUMPRELU);
            try (Kernels kernels = i == 0 ? new ReferenceKernels() : new CpuKernels(3)) {
                stats[i] = objective.lossAndGradient(kernels, sae, x, new Objective.StepInputs(k, 1, dead, dead.length), g[i]);
            }
        }
        assertEquals(stats[0].loss(), stats[1].loss(), 1e-5 * stats[0].loss(), arch + " loss");
        assertEquals(stats[0].l0(), stats[1].l0(), 1e-9, arch + " l0");
        assertEquals(stats[0].auxK(), stats[1].auxK(), 1e-5 * (1e-12 + stats[0].auxK()), arch + " auxk");
        float[][] ref = {g[0].wEncT().data(), g[0].bEnc(), g[0].wDec().data(), g[0].bDec()};
        float[][] got = {g[1].wEncT().data(), g[1].bEnc(), g[1].wDec().data(), g[1].bDec()};
        for (int p = 0; p < 4; p++) {
            double err = TestData.relError(got[p], ref[p], ref[p].length);
            assertTrue(err < 1e-4, arch + " parameter " + p + " gradient relative error " + err);
        }
        if (arch == Architecture.JUMPRELU) {
            double err = TestData.relError(g[1].logThreshold(), g[0].logThreshold(), n);
            assertTrue(err < 1e-4, "log-threshold gradient relative error " + err);
        }
    }
}
