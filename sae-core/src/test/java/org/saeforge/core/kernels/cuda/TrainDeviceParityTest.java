package org.saeforge.core.kernels.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.saeforge.core.kernels.device.DeviceArray;
import org.saeforge.core.kernels.device.DeviceMemoryPlan;
import org.saeforge.core.kernels.Revival;
import org.saeforge.core.kernels.device.HostTrainDevice;
import org.saeforge.core.kernels.device.TopKDeviceModel;
import org.saeforge.core.kernels.device.TrainDevice;
import org.saeforge.core.model.Architecture;
import org.saeforge.core.model.SaeConfig;
import org.saeforge.core.model.SparseAutoencoder;
import org.saeforge.core.tensor.FloatMatrix;

/**
 * The CUDA training device against its definition, the host emulation ({@link HostTrainDevice}): each operation the
 * device-resident step adds ({@code train.cu} and the reductions left on the device), then whole {@link TopKDeviceModel}
 * steps with AuxK, annealed k and dead latents, and the round trip of the state a checkpoint holds. fp32 operands;
 * skipped without a GPU.
 */
class TrainDeviceParityTest extends Fp32CudaTest {
    private static final int ROWS = 37;
    private static final int D = 45;

    private CudaTrainDevice gpu() {
        return CudaTrainDevice.open(kernels, GemmPrecision.FP32);
    }

    private DeviceArray floats(TrainDevice dev, float[] host, int rows, int cols) {
        DeviceArray a = dev.floats((long) rows * dev.ld(cols), "test");
        dev.uploadRows(host, rows, cols, dev.ld(cols), a);
        return a;
    }

    private float[] download(TrainDevice dev, DeviceArray a, int rows, int cols) {
        float[] out = new float[rows * cols];
        dev.downloadRows(a, rows, cols, dev.ld(cols), out);
        return out;
    }

    private static DeviceArray ints(TrainDevice dev, int[] v) {
        DeviceArray a = dev.ints(v.length, "test ints");
        dev.upload(v, a);
        return a;
    }

    private static int[] downloadInts(TrainDevice dev, DeviceArray a, int n) {
        int[] out = new int[n];
        dev.download(a, out);
        return out;
    }

    private static double relDiff(double a, double b) {
        return Math.abs(a - b) / Math.max(Math.abs(b), 1e-300);
    }

    @Test
    void batchReductionsAndLossGradientsMatchTheHost() {
        try (CudaTrainDevice g = gpu(); HostTrainDevice h = new HostTrainDevice(ref)) {
            long launches = kernels.context().launches();
            float[] x = CudaTestSupport.random(ROWS * D, 1, 3f);
            float[] xHat = CudaTestSupport.random(ROWS * D, 2, 3f);
            float[] auxHat = CudaTestSupport.random(ROWS * D, 3, 1f);
            double[] tv = new double[2];
            float[][] grads = new float[4][];
            double[] sse = new double[4];
            TrainDevice[] devs = {g, h};
            for (int i = 0; i < 2; i++) {
                TrainDevice dev = devs[i];
                int ld = dev.ld(D);
                DeviceArray xa = floats(dev, x, ROWS, D);
                DeviceArray tva = dev.doubles(1, "tv");
                dev.totalVariance(xa, ROWS, ld, tva);
                tv[i] = dev.readDouble(tva);
                DeviceArray grad = dev.floats((long) ROWS * ld, "grad");
                DeviceArray s = dev.doubles(1, "sse");
                dev.residualGradient(xa, floats(dev, xHat, ROWS, D), null, ROWS, ld, tva, 1.0, grad, s);
                grads[2 * i] = download(dev, grad, ROWS, D);
                sse[2 * i] = dev.readDouble(s);
                dev.residualGradient(xa, floats(dev, xHat, ROWS, D), floats(dev, auxHat, ROWS, D), ROWS, ld, tva, 0.37, grad, s);
                grads[2 * i + 1] = download(dev, grad, ROWS, D);
                sse[2 * i + 1] = dev.readDouble(s);
            }
            assertTrue(relDiff(tv[0], tv[1]) < 1e-12, "total variance " + tv[0] + " vs " + tv[1]);
            assertTrue(relDiff(sse[0], sse[2]) < 1e-12 && relDiff(sse[1], sse[3]) < 1e-12, "squared errors");
            assertArrayEquals(grads[2], grads[0], "loss gradient");
            assertArrayEquals(grads[3], grads[1], "AuxK loss gradient");
            CudaTestSupport.assertRanOnGpu(kernels, launches, "loss kernels");
        }
    }

    @Test
    void biasReductionsMaskAndCountsMatchTheHost() {
        int n = 3000;
        try (CudaTrainDevice g = gpu(); HostTrainDevice h = new HostTrainDevice(ref)) {
            float[] m = CudaTestSupport.random(ROWS * D, 4, 2f);
            float[] start = CudaTestSupport.random(D, 5, 1f);
            float[] coef = CudaTestSupport.random(n, 6, 1f);
            for (int j = 0; j < n; j += 3) {
                coef[j] = 0f;
            }
            float[] w = CudaTestSupport.random(n * D, 7, 1f);
            float[] val = CudaTestSupport.random(ROWS * 4, 8, 1f);
            val[5] = 0f;
            val[9] = -0f;
            int[] idx = new int[ROWS * 4];
            SplittableRandom rnd = new SplittableRandom(9);
            for (int p = 0; p < idx.length; p++) {
                idx[p] = rnd.nextInt(50);
            }
            float[][] sums = new float[2][];
            float[][] combined = new float[2][];
            float[][] masked = new float[2][];
            long[] positive = new long[2];
            int[][] selected = new int[2][];
            int[][] fired = new int[2][];
            TrainDevice[] devs = {g, h};
            for (int i = 0; i < 2; i++) {
                TrainDevice dev = devs[i];
                int ld = dev.ld(D);
                DeviceArray out = floats(dev, start, 1, D);
                dev.addColumnSums(floats(dev, m, ROWS, D), ROWS, ld, out);
                sums[i] = download(dev, out, 1, D);
                DeviceArray out2 = floats(dev, start, 1, D);
                dev.subtractRowCombination(floats(dev, coef, 1, n), floats(dev, w, n, D), n, ld, out2);
                combined[i] = download(dev, out2, 1, D);
                DeviceArray d = floats(dev, CudaTestSupport.random(ROWS * 4, 10, 1f), 1, ROWS * 4);
                DeviceArray v = floats(dev, val, 1, ROWS * 4);
                dev.maskNonPositive(v, d, ROWS * 4);
                masked[i] = download(dev, d, 1, ROWS * 4);
                DeviceArray pos = dev.longs(1, "positive");
                DeviceArray sel = dev.ints(50, "selected");
                DeviceArray fire = dev.ints(50, "fired");
                dev.zero(pos);
                dev.zero(sel);
                dev.zero(fire);
                dev.codeStats(ints(dev, idx), v, ROWS * 4, pos, fire, sel);
                positive[i] = dev.readLong(pos);
                selected[i] = downloadInts(dev, sel, 50);
                fired[i] = downloadInts(dev, fire, 50);
            }
            CudaTestSupport.assertRelError(sums[0], sums[1], D, 1e-6, "column sums");
            CudaTestSupport.assertRelError(combined[0], combined[1], D, 1e-6, "bDec term of the encoder input");
            assertArrayEquals(masked[1], masked[0], "ReLU mask of code gradients");
            assertEquals(positive[1], positive[0], "positive codes");
            assertArrayEquals(selected[1], selected[0], "selections per latent");
            assertArrayEquals(fired[1], fired[0], "positive activations per latent");
            assertTrue(java.util.Arrays.stream(fired[0]).sum() < java.util.Arrays.stream(selected[0]).sum(), "some selections are not positive");
        }
    }

    @Test
    void revivalEncoderStepMatchesTheHost() {
        int[][] shapes = {{1, 1, 1}, {37, 33, 7}, {1025, 256, 300}, {300, 1000, 64}};
        for (int[] sh : shapes) {
            int n = sh[0];
            int d = sh[1];
            int rows = sh[2];
            try (CudaTrainDevice g = gpu(); HostTrainDevice h = new HostTrainDevice(ref)) {
                long launches = kernels.context().launches();
                SplittableRandom rnd = new SplittableRandom(n * 31L + d);
                long[] since = new long[n];
                for (int j = 0; j < n; j++) {
                    since[j] = rnd.nextInt(200);
                }
                if (n == 1) {
                    since[0] = 250;
                }
                long silentByCount = 0;
                float[] x = CudaTestSupport.random(rows * d, n + 3, 1f);
                for (int i = 0; i < x.length; i++) {
                    x[i] += 0.5f; // a batch mean away from 0
                }
                float[] bDec = CudaTestSupport.random(d, n + 4, 0.3f);
                float[] w = CudaTestSupport.random(n * d, n + 5, 1f);
                int[] fire = new int[n];
                for (int j = 0; j < n; j++) {
                    fire[j] = rnd.nextInt(4);
                }
                float[][] out = new float[2][];
                TrainDevice[] devs = {g, h};
                for (int i = 0; i < 2; i++) {
                    TrainDevice dev = devs[i];
                    int ld = dev.ld(d);
                    DeviceArray s = dev.longs(n, "since positive");
                    dev.upload(since, s);
                    DeviceArray wd = floats(dev, w, n, d);
                    // window 100 rows: shorter than the 300-row batch, where fewer than 3 firings also count as silent
                    dev.reviveEncoder(wd, wd, floats(dev, x, rows, d), floats(dev, bDec, 1, d), s, ints(dev, fire), rows, n, ld, 100,
                            0.05,
                            dev.floats(ld, "u"), dev.doubles(2L * n, "stats"), dev.doubles(2, "scalars"));
                    out[i] = download(dev, wd, n, d);
                }
                CudaTestSupport.assertRelError(out[0], out[1], n * d, 1e-5, "revived encoder rows, n=" + n + " d=" + d);
                int moved = 0;
                for (int j = 0; j < n; j++) {
                    boolean same = Arrays.equals(out[0], j * d, j * d + d, w, j * d, j * d + d);
                    if (!Revival.silent(since, fire, j, 100, rows)) {
                        assertTrue(same, "row " + j + " is not silent and must not change (n=" + n + ")");
                    } else {
                        moved += same ? 0 : 1;
                        silentByCount += since[j] <= 100 ? 1 : 0;
                    }
                }
                assertTrue(n == 1 || moved > 0, "some silent rows changed, n=" + n);
                assertTrue(rows <= 100 || n < 100 || silentByCount > 0, "the batch's firing counts made some latents silent, n=" + n);
                CudaTestSupport.assertRanOnGpu(kernels, launches, "revival encoder step");
            }
        }
    }

    @Test
    void revivalCountersAndBiasStepsMatchTheHost() {
        for (int n : new int[] {1, 1000, 1025, 5000}) {
            try (CudaTrainDevice g = gpu(); HostTrainDevice h = new HostTrainDevice(ref)) {
                long launches = kernels.context().launches();
                SplittableRandom rnd = new SplittableRandom(n + 7);
                long[] since = new long[n];
                int[] fire = new int[n];
                for (int j = 0; j < n; j++) {
                    since[j] = rnd.nextInt(3000);
                    fire[j] = rnd.nextInt(4) == 0 ? 1 + rnd.nextInt(3) : 0;
                }
                int nnz = 4097;
                float[] val = CudaTestSupport.random(nnz, n, 1f);
                float[] bias = CudaTestSupport.random(n, n + 1, 1f);
                long[][] after = new long[2][n];
                float[][] biases = new float[2][];
                TrainDevice[] devs = {g, h};
                for (int i = 0; i < 2; i++) {
                    TrainDevice dev = devs[i];
                    DeviceArray s = dev.longs(n, "since positive");
                    dev.upload(since, s);
                    DeviceArray b = floats(dev, bias, 1, n);
                    dev.reviveBias(b, s, ints(dev, fire), n, 700, 2000, floats(dev, val, 1, nnz), nnz, 0.02);
                    dev.download(s, after[i]);
                    biases[i] = download(dev, b, 1, n);
                }
                assertArrayEquals(after[1], after[0], "counters, n=" + n);
                CudaTestSupport.assertRelError(biases[0], biases[1], n, 1e-6, "revived biases, n=" + n);
                double mean = 0;
                int positive = 0;
                for (float v : val) {
                    if (v > 0f) {
                        mean += v;
                        positive++;
                    }
                }
                float cap = (float) (Revival.CAP * mean / positive);
                long raised = java.util.stream.IntStream.range(0, n).filter(j -> biases[1][j] != bias[j]).count();
                assertEquals(java.util.stream.IntStream.range(0, n).filter(j -> after[1][j] > 2000 && bias[j] < cap).count(), raised,
                        "the latents past the window and below the cap moved");
                assertTrue(n < 10 || raised > 0, "some latents were revived, n=" + n);
                CudaTestSupport.assertRanOnGpu(kernels, launches, "revival");
            }
        }
    }

    @Test
    void deadLatentCountersAndListsMatchTheHost() {
        for (int n : new int[] {1, 1000, 1024, 1025, 5000}) {
            try (CudaTrainDevice g = gpu(); HostTrainDevice h = new HostTrainDevice(ref)) {
                SplittableRandom rnd = new SplittableRandom(n);
                long[] since = new long[n];
                int[] sel = new int[n];
                for (int j = 0; j < n; j++) {
                    since[j] = rnd.nextInt(3000);
                    sel[j] = rnd.nextInt(4) == 0 ? 1 + rnd.nextInt(3) : 0;
                }
                long[][] after = new long[2][n];
                int[][] ids = new int[2][];
                int[] count = new int[2];
                TrainDevice[] devs = {g, h};
                for (int i = 0; i < 2; i++) {
                    TrainDevice dev = devs[i];
                    DeviceArray s = dev.longs(n, "since");
                    dev.upload(since, s);
                    DeviceArray deadIds = dev.ints(n, "dead ids");
                    DeviceArray num = dev.ints(1, "count");
                    dev.deadUpdate(s, ints(dev, sel), n, 700, 2000, deadIds, num);
                    dev.download(s, after[i]);
                    count[i] = dev.readInt(num);
                    ids[i] = downloadInts(dev, deadIds, count[i]);
                }
                assertArrayEquals(after[1], after[0], "counters, n=" + n);
                assertEquals(count[1], count[0], "dead count, n=" + n);
                assertArrayEquals(ids[1], ids[0], "dead ids (ascending), n=" + n);
                assertTrue(n < 10 || count[0] > 0, "some latents died, n=" + n);
            }
        }
    }

    @Test
    void theFirstNonFiniteStepIsKept() {
        try (CudaTrainDevice g = gpu()) {
            DeviceArray sse = g.doubles(1, "sse");
            DeviceArray aux = g.doubles(1, "aux");
            DeviceArray bad = g.longs(1, "bad");
            g.zero(sse);
            g.zero(aux);
            g.zero(bad);
            g.checkFinite(sse, aux, 3, bad);
            assertEquals(0, g.readLong(bad));
            g.upload(new long[] {Double.doubleToRawLongBits(Double.NaN)}, aux);
            g.checkFinite(sse, aux, 4, bad);
            g.checkFinite(sse, aux, 5, bad);
            assertEquals(5, g.readLong(bad), "step 4 stored as 4 + 1");
        }
    }

    /** A random SAE with unit decoder rows. */
    private static SparseAutoencoder randomSae(int d, int n, int k, long seed) {
        FloatMatrix wEnc = CudaTestSupport.randomMatrix(n, d, seed, 0.3f);
        FloatMatrix wDec = wEnc.copy();
        for (int j = 0; j < n; j++) {
            double s = 0;
            for (int i = 0; i < d; i++) {
                s += wDec.get(j, i) * wDec.get(j, i);
            }
            for (int i = 0; i < d; i++) {
                wDec.set(j, i, (float) (wDec.get(j, i) / Math.sqrt(s)));
            }
        }
        return new SparseAutoencoder(new SaeConfig(Architecture.TOPK, d, n, k, true, Map.of()), wEnc,
                CudaTestSupport.random(n, seed + 1, 0.05f), wDec, CudaTestSupport.random(d, seed + 2, 0.1f), null);
    }

    @Test
    void modelStepsMatchTheHost() {
        int d = 40;
        int n = 300;
        int b = 64;
        // a dead window of half a batch: latents silent in the first step are dead from the second, so AuxK runs in
        // steps 1-3 (with a window of one batch it would start at step 2)
        TopKDeviceModel.Shape shape = new TopKDeviceModel.Shape(d, n, b, 6, 20, 1.0 / 32, b / 2);
        try (CudaTrainDevice g = gpu(); HostTrainDevice h = new HostTrainDevice(ref)) {
            long launches = kernels.context().launches();
            TrainDevice[] devs = {g, h};
            TopKDeviceModel[] models = new TopKDeviceModel[2];
            DeviceArray[] xs = new DeviceArray[2];
            DeviceArray[] tvs = new DeviceArray[2];
            for (int i = 0; i < 2; i++) {
                models[i] = new TopKDeviceModel(devs[i], shape);
                devs[i].reserveScratch(b, n, devs[i].ld(d), 6, 20);
                models[i].load(randomSae(d, n, 5, 11), null, null, 0, null, null);
                xs[i] = devs[i].floats((long) b * devs[i].ld(d), "batch");
                tvs[i] = devs[i].doubles(1, "tv");
            }
            DeviceMemoryPlan plan = TopKDeviceModel.plan(shape, g.ld(d), g.operandBytes()).addAll(g.scratchPlan(b, n, g.ld(d), 6, 20));
            // every allocation is at least 256 bytes on the GPU: the small ones exceed their plan by that much at most
            assertTrue(g.allocatedBytes() <= plan.total() + 64L * 256 + 2L * b * g.ld(d) * 4, g.allocatedBytes() + " vs " + plan.summary());
            for (int step = 0; step < 4; step++) {
                float[] x = CudaTestSupport.random(b * d, 100 + step, 2f);
                int k = step == 0 ? 6 : 5;
                TopKDeviceModel.StepReadout[] r = new TopKDeviceModel.StepReadout[2];
                for (int i = 0; i < 2; i++) {
                    devs[i].uploadRows(x, b, d, devs[i].ld(d), xs[i]);
                    devs[i].totalVariance(xs[i], b, devs[i].ld(d), tvs[i]);
                    models[i].step(xs[i], tvs[i], k, 3e-3f, step);
                    r[i] = models[i].readout();
                }
                assertEquals(r[1].numDeadBefore(), r[0].numDeadBefore(), "dead latents before step " + step);
                assertEquals(r[1].numDeadAfter(), r[0].numDeadAfter(), "dead latents after step " + step);
                assertEquals(r[1].positive(), r[0].positive(), "positive codes at step " + step);
                assertTrue(relDiff(r[0].sse(), r[1].sse()) < 1e-4, "sse at step " + step + ": " + r[0].sse() + " vs " + r[1].sse());
                assertTrue(relDiff(r[0].sseAux(), r[1].sseAux()) < 1e-4 || r[1].sseAux() == 0 && r[0].sseAux() == 0,
                        "AuxK sse at step " + step);
                assertTrue(step == 0 || r[1].numDeadBefore() > 0 && r[0].sseAux() > 0, "AuxK ran at step " + step);
            }
            SparseAutoencoder[] out = {randomSae(d, n, 5, 99), randomSae(d, n, 5, 98)};
            float[][][] mom = new float[2][4][];
            for (int i = 0; i < 2; i++) {
                int[] sizes = {n * d, n, n * d, d};
                float[][] m = new float[4][];
                float[][] v = new float[4][];
                for (int p = 0; p < 4; p++) {
                    m[p] = new float[sizes[p]];
                    v[p] = new float[sizes[p]];
                }
                models[i].store(out[i], m, v, new long[n], new long[n]);
                mom[i] = m;
                assertEquals(-1, models[i].firstNonFiniteStep());
            }
            CudaTestSupport.assertRelError(out[0].wEncT().data(), out[1].wEncT().data(), n * d, 1e-4, "wEncT after 4 steps");
            CudaTestSupport.assertRelError(out[0].wDec().data(), out[1].wDec().data(), n * d, 1e-4, "wDec after 4 steps");
            CudaTestSupport.assertRelError(out[0].bEnc(), out[1].bEnc(), n, 1e-4, "bEnc after 4 steps");
            CudaTestSupport.assertRelError(out[0].bDec(), out[1].bDec(), d, 1e-4, "bDec after 4 steps");
            CudaTestSupport.assertRelError(mom[0][0], mom[1][0], n * d, 1e-4, "Adam m of wEncT");
            CudaTestSupport.assertRelError(mom[0][3], mom[1][3], d, 1e-4, "Adam m of bDec");
            CudaTestSupport.assertRanOnGpu(kernels, launches, "model steps");
        }
    }

    @Test
    void theCheckpointedStateRoundTrips() {
        int d = 33;
        int n = 70;
        TopKDeviceModel.Shape shape = new TopKDeviceModel.Shape(d, n, 8, 4, 8, 1.0 / 32, 100);
        try (CudaTrainDevice g = gpu()) {
            TopKDeviceModel model = new TopKDeviceModel(g, shape);
            SparseAutoencoder sae = randomSae(d, n, 4, 5);
            int[] sizes = {n * d, n, n * d, d};
            float[][] m = new float[4][];
            float[][] v = new float[4][];
            for (int p = 0; p < 4; p++) {
                m[p] = CudaTestSupport.random(sizes[p], 20 + p, 1f);
                v[p] = CudaTestSupport.random(sizes[p], 30 + p, 1f);
            }
            long[] since = new long[n];
            long[] sincePositive = new long[n];
            for (int j = 0; j < n; j++) {
                since[j] = 7L * j;
                sincePositive[j] = 11L * j + 3;
            }
            model.load(sae, m, v, 17, since, sincePositive);
            assertEquals(17, model.adamSteps());
            assertEquals((int) java.util.stream.LongStream.of(since).filter(s -> s > 100).count(), model.numDead(), "dead list from counters");
            SparseAutoencoder back = randomSae(d, n, 4, 6);
            float[][] m2 = new float[4][];
            float[][] v2 = new float[4][];
            for (int p = 0; p < 4; p++) {
                m2[p] = new float[sizes[p]];
                v2[p] = new float[sizes[p]];
            }
            long[] since2 = new long[n];
            long[] sincePositive2 = new long[n];
            model.store(back, m2, v2, since2, sincePositive2);
            assertTrue(sae.sameWeights(back), "weights round trip");
            for (int p = 0; p < 4; p++) {
                assertArrayEquals(m[p], m2[p], "Adam m" + p);
                assertArrayEquals(v[p], v2[p], "Adam v" + p);
            }
            assertArrayEquals(since, since2, "dead-latent counters");
            assertArrayEquals(sincePositive, sincePositive2, "revival counters");
        }
    }
}
