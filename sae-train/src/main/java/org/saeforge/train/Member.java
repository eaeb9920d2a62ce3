package org.saeforge.train;

import java.util.Map;
import org.saeforge.core.SaeException;
import org.saeforge.core.kernels.Kernels;
import org.saeforge.core.kernels.Revival;
import org.saeforge.core.model.Architecture;
import org.saeforge.core.model.SaeConfig;
import org.saeforge.core.model.SparseAutoencoder;
import org.saeforge.core.tensor.FloatMatrix;
import org.saeforge.core.tensor.SparseCodes;

/**
 * One SAE being trained: its weights, objective, optimiser, dead-latent counters and schedules. A sweep holds several
 * that all see the same batches. Everything a step depends on is here or in the step number, so a checkpoint of these
 * fields plus the data position resumes a run exactly.
 */
final class Member implements AutoCloseable {
    final String name;
    final TrainConfig config;
    final int dIn;
    final Objective objective;
    final Gradients grads;
    final AdamOptimizer adam;
    final DeadLatentTracker dead;
    final LrSchedule schedule;
    SparseAutoencoder sae;
    /** JumpReLU: the trained log-thresholds (sae.threshold() holds their exp). */
    float[] logThreshold;
    /** BatchTopK/Matryoshka: whether the inference threshold estimate has started. */
    boolean thresholdStarted;
    StepStats last;
    double lastLr;
    /** Revival's scratch: the batch mean of x − bDec. */
    private float[] meanOffset;
    /** TopK's duplicate check, made at its first use; null before and when off. */
    private DuplicateResampler resampler;
    /** Latents restarted as duplicates so far in this process (for the log line at the end). */
    long resampled;

    Member(String name, TrainConfig config, int dIn) {
        this.name = name;
        this.config = config;
        this.dIn = dIn;
        int n = config.numLatents();
        int b = config.batchSize();
        Architecture arch = config.architecture();
        int kAux = config.effectiveKAux(dIn);
        this.objective = switch (arch) {
            case TOPK -> new TopKObjective(b, dIn, n, config.maxK(), kAux, config.auxKCoef());
            case BATCH_TOPK, MATRYOSHKA -> new BatchTopKObjective(b, dIn, n, config.maxK(), config.effectivePrefixes(), kAux,
                    config.auxKCoef());
            case JUMPRELU -> new JumpReluObjective(b, dIn, n, config.bandwidth(), config.k(), config.effectiveL0Coef());
            case RELU -> new ReluL1Objective(b, dIn, n, config.l1Coef(), config.effectiveL1Relief(), ReluL1Objective.DENSE_ABOVE);
        };
        boolean jump = arch == Architecture.JUMPRELU;
        this.grads = arch == Architecture.TOPK ? Gradients.biasesOnly(n, dIn) : new Gradients(n, dIn, jump);
        this.adam = new AdamOptimizer(n, dIn, jump, arch != Architecture.RELU, config.effectiveLazyAdam());
        this.dead = new DeadLatentTracker(n, config.effectiveDeadAfter());
        this.schedule = config.schedule();
        this.logThreshold = jump ? new float[n] : null;
    }

    /** The SAE's shape: ReLU does not subtract bDec from its input (the peer recipe), the others do. */
    static SaeConfig saeConfig(TrainConfig c, int dIn, Map<String, Object> metadata) {
        return new SaeConfig(c.architecture(), dIn, c.numLatents(), c.architecture().usesK() ? c.k() : 0,
                c.architecture() != Architecture.RELU, metadata);
    }

    /** Fresh weights from the first batch. */
    void init(Kernels kernels, FloatMatrix firstBatch, Map<String, Object> metadata) {
        sae = Initializer.init(saeConfig(config, dIn, metadata), firstBatch, config.seed(), config.initThreshold());
        if (config.architecture() == Architecture.JUMPRELU && config.k() > 0) {
            Initializer.biasForFiringRate(kernels, sae, firstBatch, (double) config.k() / config.numLatents());
        }
        if (logThreshold != null) {
            float[] th = sae.threshold();
            for (int j = 0; j < th.length; j++) {
                logThreshold[j] = (float) Math.log(th[j]);
            }
        }
    }

    /** Takes over a checkpointed state (weights, optimiser state, threshold flag, dead-latent counters). */
    void restore(Checkpoint.MemberState st) {
        sae = st.sae();
        if (logThreshold != null) {
            System.arraycopy(st.logThreshold(), 0, logThreshold, 0, logThreshold.length);
        }
        adam.restore(st.adamM(), st.adamV(), st.adamSteps());
        thresholdStarted = st.thresholdStarted();
        dead.restore(st.sinceSelected(), st.sincePositive());
    }

    /** One optimiser step on the batch; step is 0-based. */
    StepStats step(Kernels kernels, FloatMatrix batch, long step) {
        Objective.StepInputs in = new Objective.StepInputs(config.kAt(step), config.sparsityScaleAt(step), dead.deadIds(),
                dead.numDead());
        // TopK takes the fused path: sparse gradient rows go straight into Adam, no gradient matrices.
        TopKObjective fused = objective instanceof TopKObjective t ? t : null;
        StepStats stats = fused != null ? fused.prepareFused(kernels, sae, batch, in, grads)
                : objective.lossAndGradient(kernels, sae, batch, in, grads);
        if (!Double.isFinite(stats.loss())) {
            throw new SaeException("training " + (name.isEmpty() ? "" : name + " ") + "diverged at step " + step + " (loss "
                    + stats.loss() + ", FVU " + stats.fvu() + "); lower --lr or check the data");
        }
        double lr = schedule.lrAt(step);
        if (fused != null) {
            fused.applyFused(kernels, sae, adam, grads, lr);
        } else {
            adam.step(kernels, sae, grads, logThreshold, lr, config.thresholdLr());
        }
        if (logThreshold != null) {
            float[] th = sae.threshold();
            for (int j = 0; j < th.length; j++) {
                th[j] = (float) Math.exp(logThreshold[j]);
            }
        }
        if (objective instanceof BatchTopKObjective bt && step >= config.effectiveWarmupSteps()) {
            updateThreshold(bt.minActivation());
        }
        dead.update(objective.codes(), config.batchSize(), objective.zeroSelectionsFire());
        long reviveAfter = config.effectiveReviveAfter();
        if (reviveAfter > 0) {
            SparseCodes codes = objective.codes();
            double rate = config.reviveRateAt(schedule, step);
            int n = config.numLatents();
            int[] fired = dead.firedInLastBatch();
            int rows = batch.rows();
            Revival.apply(sae.bEnc(), dead.sincePositive(), fired, rows, n, reviveAfter, codes.values(), codes.nnz(), rate);
            if (rate > 0) {
                int d = batch.cols();
                if (meanOffset == null) {
                    meanOffset = new float[d];
                }
                Revival.meanOffset(batch.data(), rows, d, d, sae.bDec(), meanOffset);
                Revival.reviveEncoder(sae.wEncT().data(), n, d, d, dead.sincePositive(), fired, rows, reviveAfter, meanOffset,
                        Revival.growth(lr));
                if (logThreshold != null) {
                    Revival.decayThresholds(logThreshold, sae.threshold(), n, dead.sincePositive(), fired, rows, reviveAfter, rate);
                }
            }
        }
        if (fused != null && DuplicateResampler.due(step, config.dedupEverySteps(), config.steps(), config.batchSize())) {
            if (resampler == null) {
                resampler = new DuplicateResampler(config.numLatents(), dIn, config.seed(), config.dedupEverySteps(), config.threads());
            }
            resampled += resampler.resample(sae, fused.codes(), fused.residualGradient(), batch.rows(), adam.firstMoments(),
                    adam.secondMoments(), step);
        }
        last = stats;
        lastLr = lr;
        return stats;
    }

    @Override
    public void close() {
        if (resampler != null) {
            resampler.close();
            resampler = null;
        }
    }

    /**
     * Running mean of the smallest selected activation (as dictionary_learning's BatchTopK), from the end of warm-up:
     * an exponential average over about a tenth of the run (at most 1000 steps, at least 10), kept in float in the
     * SAE's threshold so that a checkpoint holds it exactly.
     */
    private void updateThreshold(float minActivation) {
        float[] th = sae.threshold();
        float next;
        if (!thresholdStarted) {
            next = minActivation;
            thresholdStarted = true;
        } else {
            double window = Math.min(1000, Math.max(10, config.steps() / 10.0));
            double beta = 1 - 1 / window;
            next = (float) (beta * th[0] + (1 - beta) * minActivation);
        }
        java.util.Arrays.fill(th, next);
    }

    /** The current BatchTopK threshold, the mean JumpReLU threshold, or NaN. */
    double thresholdSummary() {
        float[] th = sae.threshold();
        if (th == null) {
            return Double.NaN;
        }
        double s = 0;
        for (float t : th) {
            s += t;
        }
        return s / th.length;
    }
}
