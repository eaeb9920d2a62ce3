package org.saeforge.train;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.saeforge.core.kernels.Kernels;
import org.saeforge.core.kernels.cpu.CpuKernels;
import org.saeforge.core.kernels.cpu.ReferenceKernels;
import org.saeforge.core.model.Architecture;
import org.saeforge.core.model.SparseAutoencoder;
import org.saeforge.core.tensor.FloatMatrix;
import org.saeforge.core.testing.TestData;

/**
 * The sparse analytic gradient of {@link TopKObjective} (FVU + AuxK) against central finite differences of the same
 * loss written independently in float64, on tiny shapes. The top-k and AuxK selections and the detached AuxK target
 * are those at the unperturbed point, so the loss is smooth in every direction probed.
 */
class GradientCheckTest {
    static final int B = 7;
    static final int D = 6;
    static final int N = 11;
    static final int K = 3;
    static final int K_AUX = 2;
    static final double AUX_COEF = 0.5;

    /** Selections fixed at the unperturbed point. */
    record Frozen(int[][] top, int[][] aux, double[][] residual, double totalVar) {
    }

    static double[] pre(SparseAutoencoder s, FloatMatrix x, int r) {
        double[] pre = new double[N];
        for (int j = 0; j < N; j++) {
            double v = s.bEnc()[j];
            for (int i = 0; i < D; i++) {
                v += ((double) x.get(r, i) - s.bDec()[i]) * s.wEncT().get(j, i);
            }
            pre[j] = v;
        }
        return pre;
    }

    static int[] topAmong(double[] v, int[] cand, int k) {
        return Arrays.stream(cand).boxed().sorted((a, b) -> Double.compare(v[b], v[a])).limit(k).mapToInt(Integer::intValue).toArray();
    }

    static double[] decode(SparseAutoencoder s, double[] pre, int[] sel) {
        double[] out = new double[D];
        for (int i = 0; i < D; i++) {
            out[i] = s.bDec()[i];
        }
        for (int j : sel) {
            double z = Math.max(0, pre[j]);
            for (int i = 0; i < D; i++) {
                out[i] += z * s.wDec().get(j, i);
            }
        }
        return out;
    }

    static Frozen freeze(SparseAutoencoder s, FloatMatrix x, int[] dead) {
        int[] all = java.util.stream.IntStream.range(0, N).toArray();
        int[][] top = new int[B][];
        int[][] aux = new int[B][];
        double[][] res = new double[B][];
        double[] mean = new double[D];
        for (int r = 0; r < B; r++) {
            for (int i = 0; i < D; i++) {
                mean[i] += x.get(r, i) / (double) B;
            }
        }
        double tv = 0;
        for (int r = 0; r < B; r++) {
            double[] p = pre(s, x, r);
            top[r] = topAmong(p, all, K);
            aux[r] = topAmong(p, dead, K_AUX);
            double[] xh = decode(s, p, top[r]);
            res[r] = new double[D];
            for (int i = 0; i < D; i++) {
                res[r][i] = x.get(r, i) - xh[i];
                tv += (x.get(r, i) - mean[i]) * (x.get(r, i) - mean[i]);
            }
        }
        return new Frozen(top, aux, res, tv);
    }

    static double loss(SparseAutoencoder s, FloatMatrix x, Frozen f, int numDead) {
        double sse = 0;
        double aux = 0;
        for (int r = 0; r < B; r++) {
            double[] p = pre(s, x, r);
            double[] xh = decode(s, p, f.top()[r]);
            double[] eh = decode(s, p, f.aux()[r]);
            for (int i = 0; i < D; i++) {
                sse += (xh[i] - x.get(r, i)) * (xh[i] - x.get(r, i));
                aux += (eh[i] - f.residual()[r][i]) * (eh[i] - f.residual()[r][i]);
            }
        }
        double scale = Math.min((double) numDead / K_AUX, 1.0);
        return sse / f.totalVar() + AUX_COEF * scale * aux / f.totalVar();
    }

    /** Central differences over every element of a parameter array, in double, restoring it afterwards. */
    static double[] finiteDifferences(float[] param, SparseAutoencoder s, FloatMatrix x, Frozen f, int numDead) {
        double[] g = new double[param.length];
        for (int i = 0; i < param.length; i++) {
            float orig = param[i];
            float h = Math.max(1e-3f, Math.abs(orig) * 1e-3f);
            param[i] = orig + h;
            double up = loss(s, x, f, numDead);
            param[i] = orig - h;
            double down = loss(s, x, f, numDead);
            param[i] = orig;
            // use the float-representable step actually taken
            g[i] = (up - down) / ((double) (orig + h) - (double) (orig - h));
        }
        return g;
    }

    static double relErr(float[] got, double[] ref) {
        double num = 0;
        double den = 0;
        for (int i = 0; i < ref.length; i++) {
            num += (got[i] - ref[i]) * (got[i] - ref[i]);
            den += ref[i] * ref[i];
        }
        return Math.sqrt(num) / Math.max(Math.sqrt(den), 1e-30);
    }

    @ParameterizedTest
    @ValueSource(strings = {"cpu-ref", "cpu"})
    void analyticGradientMatchesFiniteDifferences(String backend) {
        SparseAutoencoder sae = TestData.randomSae(Architecture.TOPK, D, N, K, 42);
        FloatMatrix x = FloatMatrix.random(B, D, 43, 1.5f);
        int[] dead = {1, 4, 6, 9};
        SparseAutoencoder probe = sae.copy();
        Frozen f = freeze(probe, x, dead);

        TopKObjective objective = new TopKObjective(B, D, N, K, K_AUX, AUX_COEF);
        Gradients g = new Gradients(N, D);
        try (Kernels kernels = "cpu".equals(backend) ? new CpuKernels(2) : new ReferenceKernels()) {
            objective.lossAndGradient(kernels, sae, x, dead, dead.length, g);
        }
        double[][] fd = {
            finiteDifferences(probe.wEncT().data(), probe, x, f, dead.length),
            finiteDifferences(probe.bEnc(), probe, x, f, dead.length),
            finiteDifferences(probe.wDec().data(), probe, x, f, dead.length),
            finiteDifferences(probe.bDec(), probe, x, f, dead.length),
        };
        float[][] analytic = {g.wEncT().data(), g.bEnc(), g.wDec().data(), g.bDec()};
        String[] names = {"wEncT", "bEnc", "wDec", "bDec"};
        for (int p = 0; p < 4; p++) {
            double err = relErr(analytic[p], fd[p]);
            assertTrue(err < 2e-3, backend + " " + names[p] + " relative error " + err);
            assertTrue(Arrays.stream(fd[p]).anyMatch(v -> Math.abs(v) > 1e-6), names[p] + " gradient is not trivially zero");
        }
    }
}
