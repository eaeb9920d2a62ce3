package org.saeforge.train;

import java.util.Arrays;
import java.util.SplittableRandom;
import org.saeforge.core.kernels.cpu.DenseGemm;
import org.saeforge.core.kernels.cpu.LatentGroups;
import org.saeforge.core.kernels.cpu.WorkerPool;
import org.saeforge.core.model.SparseAutoencoder;
import org.saeforge.core.tensor.FloatMatrix;
import org.saeforge.core.tensor.SparseCodes;

/**
 * Resampling of duplicate latents (TopK on the CPU, when asked for: {@link TrainConfig#effectiveDedupEvery}). Two latents that fire together on
 * about one direction spend two latents on one feature. When the dictionary is no larger than the data's set of
 * features, every latent spent that way leaves a feature unlearned: on synthetic data with as many latents as true
 * features (d_in 768, 4096 latents, 3M rows) the default rate ended with about 600 latents at a cosine of 0.5–0.9 to
 * a feature that another latent already held above 0.9, and 24% of the features unrecovered; a higher rate shook them
 * apart (docs/training.md, "TopK: resampling duplicate latents").
 *
 * <p>A pair is two latents whose unit decoder rows have a cosine above {@link #COSINE} and that share more than
 * {@link #OVERLAP} of their activation in the last batch: {@code Σ_rows min(z_i, z_j) / min(Σ z_i, Σ z_j)}. The
 * decoder cosine alone also pairs latents of distinct but correlated features, which fire on different rows; restarting
 * those again and again made a 10M-row run worse (measured: FVU 0.107 against 0.080 without checks). On trained
 * SAEs the share was bimodal: median 0.92 for two latents on one true feature, 0.04 for latents on two.
 *
 * <p>Each check compares the decoder rows of a window of latents with all of them (a dense product, at most
 * {@link #WINDOW} rows per check, so a check costs no more than one encoder product of a 4096-row batch; the window
 * moves on at each check, from the step number). Going through the window in order, a latent and the first latent
 * that is not yet paired and passes both tests form a pair; of each pair the one with the smaller activation mass in
 * the batch (the later index on a tie) is the duplicate: a restarted latent, which starts weak, goes before an
 * established one. A duplicate restarts on the residual {@code x − x̂} of a row of the last batch drawn with
 * probability proportional to its squared norm, without replacement: its decoder row becomes that residual's
 * direction, its encoder row the same direction times {@link #ENCODER_SCALE} times the mean encoder row norm, its
 * encoder bias 0, and the Adam moments of all three 0 (the resampling of Bricken et al. 2023, applied to duplicates
 * rather than to dead latents). The draws come from a generator seeded by the run's seed and the step, so a resumed
 * run resamples exactly as an uninterrupted one.
 */
final class DuplicateResampler implements AutoCloseable {
    /** Decoder cosine above which two latents are a pair. */
    static final double COSINE = 0.5;
    /** Share of the smaller activation mass the two latents must carry on the same rows of the batch. */
    static final double OVERLAP = 0.5;
    /** The new encoder row's norm as a fraction of the mean encoder row norm. */
    static final double ENCODER_SCALE = 0.2;
    /** Checks run up to this fraction of the run, so that the last quarter trains the dictionary it has. */
    static final double UNTIL = 0.75;
    /**
     * ... and over this many rows at most. With checks up to three quarters of a 10M-row run (1× data, 2441 steps) its
     * training FVU rose from step 768 on (0.101 → 0.138 by step 1512, against 0.095 without checks): latents restarted
     * late, at a decayed rate, were never trained far. Checks over the first 2.5M rows only kept it with the run
     * without checks (0.0935 at step 1512), until a jump in its last 41 steps (test FVU 0.110 against 0.080), which
     * was revival's, not the checks' ({@link TrainConfig#REVIVE_MIN_LR}; with revival's stop 0.0722 against 0.0767);
     * every run of up to 3M rows measured checks until three quarters.
     */
    static final long LAST_CHECK_ROWS = 2_500_000;
    /** Latents whose rows one check compares with all (the decoder product of a 4096-row batch). */
    static final int WINDOW = 4096;
    /** Floats of product one multiply may hold (16 MiB). */
    private static final int PRODUCT_FLOATS = 1 << 22;

    private final int numLatents;
    private final int dIn;
    private final long seed;
    private final WorkerPool pool;
    private final DenseGemm gemm;
    private final long everySteps;
    private final float[] cosRow;
    /** The batch's codes grouped by latent, rows ascending within a latent. */
    private final LatentGroups groups = new LatentGroups();
    /** The batch's code values (read through {@link #groups}' entries). */
    private float[] values;
    private final double[] mass;

    /** @param everySteps steps between checks ({@link TrainConfig#dedupEverySteps}) */
    DuplicateResampler(int numLatents, int dIn, long seed, long everySteps, int threads) {
        this.numLatents = numLatents;
        this.dIn = dIn;
        this.seed = seed;
        this.everySteps = Math.max(1, everySteps);
        this.pool = new WorkerPool(Math.max(1, threads));
        this.gemm = DenseGemm.create(pool);
        this.cosRow = new float[numLatents];
        this.mass = new double[numLatents];
    }

    /**
     * Whether the 0-based step ends with a check: every {@code everySteps} steps, up to {@link #UNTIL} of the run and
     * {@link #LAST_CHECK_ROWS} rows.
     */
    static boolean due(long step, long everySteps, long steps, int batchSize) {
        long done = step + 1;
        return everySteps > 0 && done % everySteps == 0 && done <= lastCheckStep(steps, batchSize);
    }

    /** The last step (1-based) that may end with a check. */
    static long lastCheckStep(long steps, int batchSize) {
        return (long) Math.min(UNTIL * steps, (double) LAST_CHECK_ROWS / batchSize);
    }

    /**
     * One check on the SAE after the step on a batch: finds pairs in the current window and restarts their
     * duplicates. {@code codes} are the batch's selections; {@code residualGrad} holds rows proportional to
     * {@code x̂ − x} (any positive scale) for the batch's {@code rows} rows; {@code m}/{@code v} Adam's moments of
     * wEncT, bEnc and wDec in that order.
     *
     * @return the latents restarted
     */
    int resample(SparseAutoencoder sae, SparseCodes codes, FloatMatrix residualGrad, int rows, float[][] m, float[][] v, long step) {
        int n = numLatents;
        int d = dIn;
        float[] wDec = sae.wDec().data();
        int window = Math.min(n, WINDOW);
        // the window of the check this step ends, from the step alone (a resumed run checks the same windows)
        int first = (int) (((step + 1) / everySteps - 1) % ((n + window - 1) / window) * window);
        boolean[] victim = new boolean[n];
        boolean[] paired = new boolean[n];
        int count = 0;
        byLatent(codes);
        gemm.prepareB(wDec, n, d);
        int sub = Math.max(1, Math.min(window, PRODUCT_FLOATS / n));
        float[] block = new float[sub * d];
        for (int s = 0; s < window; s += sub) {
            int len = Math.min(sub, window - s);
            for (int r = 0; r < len; r++) {
                int i = (first + s + r) % n;
                System.arraycopy(wDec, i * d, block, r * d, d);
            }
            DenseGemm.Product prod = gemm.multiply(block, len);
            for (int r = 0; r < len; r++) {
                int i = (first + s + r) % n;
                if (paired[i]) {
                    continue;
                }
                prod.copyRow(r, cosRow, 0);
                for (int j = 0; j < n; j++) {
                    if (j != i && !paired[j] && cosRow[j] > COSINE && overlap(i, j) > OVERLAP) {
                        int dup = mass[i] < mass[j] || mass[i] == mass[j] && i > j ? i : j;
                        victim[dup] = true;
                        paired[i] = true;
                        paired[j] = true;
                        count++;
                        break;
                    }
                }
            }
        }
        if (count > 0) {
            restart(sae, residualGrad, rows, victim, m, v, new SplittableRandom(seed * 0x9E3779B97F4A7C15L + step));
        }
        return count;
    }

    /** Groups the batch's codes by latent ({@link LatentGroups}) and sums each latent's positive activation. */
    private void byLatent(SparseCodes codes) {
        groups.group(codes);
        values = codes.values();
        int[] idx = codes.indices();
        Arrays.fill(mass, 0);
        for (int p = 0; p < codes.nnz(); p++) {
            if (values[p] > 0f) {
                mass[idx[p]] += values[p];
            }
        }
    }

    /**
     * {@code Σ_rows min(z_i, z_j) / min(Σ z_i, Σ z_j)} over the batch, with z the positive part of the codes; 0 when
     * either did not fire.
     */
    double overlap(int i, int j) {
        double smaller = Math.min(mass[i], mass[j]);
        if (!(smaller > 0)) {
            return 0;
        }
        int[] start = groups.starts();
        int[] row = groups.rows();
        int[] entry = groups.entries();
        double shared = 0;
        int a = start[i];
        int b = start[j];
        while (a < start[i + 1] && b < start[j + 1]) {
            if (row[a] < row[b]) {
                a++;
            } else if (row[a] > row[b]) {
                b++;
            } else {
                shared += Math.max(0f, Math.min(values[entry[a]], values[entry[b]]));
                a++;
                b++;
            }
        }
        return shared / smaller;
    }

    /** Restarts every latent marked in {@code victim} on a residual row (class comment). */
    private void restart(SparseAutoencoder sae, FloatMatrix residualGrad, int rows, boolean[] victim, float[][] m, float[][] v,
                         SplittableRandom rng) {
        int n = numLatents;
        int d = dIn;
        float[] g = residualGrad.data();
        double[] weight = new double[rows];
        double total = 0;
        for (int r = 0; r < rows; r++) {
            weight[r] = Losses.sumSquares(g, r * d, d);
            total += weight[r];
        }
        float[] wEnc = sae.wEncT().data();
        float[] wDec = sae.wDec().data();
        double encNorm = 0;
        for (int j = 0; j < n; j++) {
            encNorm += Math.sqrt(Losses.sumSquares(wEnc, j * d, d));
        }
        float encScale = (float) (ENCODER_SCALE * encNorm / n);
        for (int j = 0; j < n; j++) {
            if (!victim[j] || !(total > 0)) {
                continue;
            }
            int r = draw(weight, total, rng.nextDouble());
            double ss = weight[r];
            total -= ss;
            weight[r] = 0;
            float inv = (float) (-1 / Math.sqrt(ss));
            int o = j * d;
            for (int c = 0; c < d; c++) {
                float dir = g[r * d + c] * inv;
                wDec[o + c] = dir;
                wEnc[o + c] = dir * encScale;
            }
            Arrays.fill(m[0], o, o + d, 0f);
            Arrays.fill(v[0], o, o + d, 0f);
            Arrays.fill(m[2], o, o + d, 0f);
            Arrays.fill(v[2], o, o + d, 0f);
            sae.bEnc()[j] = 0f;
            m[1][j] = 0f;
            v[1][j] = 0f;
        }
    }

    /** The row whose cumulative weight first exceeds {@code u · total} (a row of positive weight). */
    private static int draw(double[] weight, double total, double u) {
        double target = u * total;
        double acc = 0;
        int last = -1;
        for (int r = 0; r < weight.length; r++) {
            if (weight[r] > 0) {
                acc += weight[r];
                last = r;
                if (acc > target) {
                    return r;
                }
            }
        }
        return last;
    }

    @Override
    public void close() {
        gemm.close();
        pool.close();
    }
}
