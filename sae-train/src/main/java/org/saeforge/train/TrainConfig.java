package org.saeforge.train;

import org.saeforge.core.SaeException;
import org.saeforge.core.data.BadRowPolicy;
import org.saeforge.core.kernels.Device;

/**
 * Everything that defines a training run. Defaults live in {@link #defaults(int, int)} and nowhere else.
 *
 * @param numLatents    dictionary size
 * @param k             active latents per row (TopK)
 * @param batchSize     rows per optimiser step (default 4096)
 * @param tokens        training rows to consume in total; steps = tokens / batchSize
 * @param seed          seeds initialisation, the held-out split and the data order (default 0)
 * @param lr            Adam learning rate; NaN means the default {@code 2e-4 / sqrt(numLatents / 2^14)}
 * @param warmupSteps   linear warm-up steps; -1 means min(1000, 5% of steps)
 * @param deadAfter     a latent not selected for this many rows is dead and feeds AuxK (default 10,000,000)
 * @param auxKCoef      AuxK loss coefficient (default 1/32); 0 disables AuxK
 * @param kAux          latents AuxK selects per row; -1 means dIn / 2
 * @param evalRows      held-out rows; -1 means 1% of the data, at most 50,000
 * @param bufferBytes   memory budget of the shuffle buffer; -1 means min(2^20 rows, 1 GiB)
 * @param badRows       what to do with rows holding NaN or infinity (default skip)
 * @param device        kernels backend (default cpu)
 * @param threads       CPU worker threads (default: available processors)
 * @param logEvery      steps between metrics.jsonl lines and progress updates; -1 means about 100 per run
 * @param maxNormRatio  drop rows whose L2 norm exceeds this times the median row norm of a sample (counted and
 *                      reported); 0 (default) keeps all rows
 * @param normalizeActivations train on rows scaled so that their mean squared norm is dIn (scale estimated from a
 *                      sample) and fold the scale into the exported weights (default false)
 */
public record TrainConfig(int numLatents, int k, int batchSize, long tokens, long seed, double lr, int warmupSteps,
                          long deadAfter, double auxKCoef, int kAux, long evalRows, long bufferBytes,
                          BadRowPolicy badRows, Device device, int threads, int logEvery, double maxNormRatio,
                          boolean normalizeActivations) {

    public static final int DEFAULT_BATCH = 4096;
    public static final long DEFAULT_DEAD_AFTER = 10_000_000L;
    public static final double DEFAULT_AUXK_COEF = 1.0 / 32;

    public TrainConfig {
        if (numLatents < 1) {
            throw new SaeException("--num-latents must be at least 1, got " + numLatents);
        }
        if (k < 1 || k > numLatents) {
            throw new SaeException("--k must be in [1, num-latents=" + numLatents + "], got " + k);
        }
        if (batchSize < 1) {
            throw new SaeException("--batch-size must be at least 1, got " + batchSize);
        }
        if (tokens < batchSize) {
            throw new SaeException("--tokens " + tokens + " is less than one batch (--batch-size " + batchSize + ")");
        }
        if (!Double.isNaN(lr) && !(lr > 0 && Double.isFinite(lr))) {
            throw new SaeException("--lr must be a positive number, got " + lr);
        }
        if (warmupSteps < -1) {
            throw new SaeException("--warmup-steps must be >= 0, got " + warmupSteps);
        }
        if (deadAfter < 1) {
            throw new SaeException("--dead-after must be at least 1 row, got " + deadAfter);
        }
        if (!(auxKCoef >= 0 && Double.isFinite(auxKCoef))) {
            throw new SaeException("--auxk-coef must be >= 0, got " + auxKCoef);
        }
        if (kAux == 0 || kAux < -1) {
            throw new SaeException("--k-aux must be at least 1, got " + kAux);
        }
        if (evalRows < -1) {
            throw new SaeException("--eval-rows must be >= 0, got " + evalRows);
        }
        if (threads < 1) {
            throw new SaeException("--threads must be at least 1, got " + threads);
        }
        if (badRows == null || device == null) {
            throw new SaeException("bad-rows policy and device must be set");
        }
        if (!(maxNormRatio == 0 || (maxNormRatio > 1 && Double.isFinite(maxNormRatio)))) {
            throw new SaeException("--max-norm-ratio must be greater than 1 (or 0 for no limit), got " + maxNormRatio);
        }
    }

    /** The configuration without outlier filtering or activation normalization (the fields before they existed). */
    public TrainConfig(int numLatents, int k, int batchSize, long tokens, long seed, double lr, int warmupSteps,
                       long deadAfter, double auxKCoef, int kAux, long evalRows, long bufferBytes,
                       BadRowPolicy badRows, Device device, int threads, int logEvery) {
        this(numLatents, k, batchSize, tokens, seed, lr, warmupSteps, deadAfter, auxKCoef, kAux, evalRows, bufferBytes, badRows,
                device, threads, logEvery, 0, false);
    }

    /** The defaults for a dictionary of numLatents with k active; tokens default to 10 batches until set. */
    public static TrainConfig defaults(int numLatents, int k) {
        return new TrainConfig(numLatents, k, DEFAULT_BATCH, 10L * DEFAULT_BATCH, 0, Double.NaN, -1, DEFAULT_DEAD_AFTER,
                DEFAULT_AUXK_COEF, -1, -1, -1, BadRowPolicy.SKIP, Device.CPU,
                Math.max(1, Runtime.getRuntime().availableProcessors()), -1, 0, false);
    }

    public long steps() {
        return tokens / batchSize;
    }

    /** The learning rate to use: the given one or {@code 2e-4 / sqrt(numLatents / 2^14)}. */
    public double effectiveLr() {
        return Double.isNaN(lr) ? 2e-4 / Math.sqrt(numLatents / 16384.0) : lr;
    }

    public int effectiveWarmupSteps() {
        return warmupSteps >= 0 ? warmupSteps : (int) Math.min(1000, steps() / 20);
    }

    public int effectiveKAux(int dIn) {
        return kAux > 0 ? kAux : Math.max(1, dIn / 2);
    }

    public int effectiveLogEvery() {
        return logEvery > 0 ? logEvery : (int) Math.max(1, steps() / 100);
    }

    public TrainConfig withBatchSize(int v) {
        return new TrainConfig(numLatents, k, v, tokens, seed, lr, warmupSteps, deadAfter, auxKCoef, kAux, evalRows, bufferBytes,
                badRows, device, threads, logEvery, maxNormRatio, normalizeActivations);
    }

    public TrainConfig withTokens(long v) {
        return new TrainConfig(numLatents, k, batchSize, v, seed, lr, warmupSteps, deadAfter, auxKCoef, kAux, evalRows, bufferBytes,
                badRows, device, threads, logEvery, maxNormRatio, normalizeActivations);
    }

    public TrainConfig withSeed(long v) {
        return new TrainConfig(numLatents, k, batchSize, tokens, v, lr, warmupSteps, deadAfter, auxKCoef, kAux, evalRows, bufferBytes,
                badRows, device, threads, logEvery, maxNormRatio, normalizeActivations);
    }

    public TrainConfig withLr(double v) {
        return new TrainConfig(numLatents, k, batchSize, tokens, seed, v, warmupSteps, deadAfter, auxKCoef, kAux, evalRows, bufferBytes,
                badRows, device, threads, logEvery, maxNormRatio, normalizeActivations);
    }

    public TrainConfig withWarmupSteps(int v) {
        return new TrainConfig(numLatents, k, batchSize, tokens, seed, lr, v, deadAfter, auxKCoef, kAux, evalRows, bufferBytes,
                badRows, device, threads, logEvery, maxNormRatio, normalizeActivations);
    }

    public TrainConfig withDeadAfter(long v) {
        return new TrainConfig(numLatents, k, batchSize, tokens, seed, lr, warmupSteps, v, auxKCoef, kAux, evalRows, bufferBytes,
                badRows, device, threads, logEvery, maxNormRatio, normalizeActivations);
    }

    public TrainConfig withAuxK(double coef, int newKAux) {
        return new TrainConfig(numLatents, k, batchSize, tokens, seed, lr, warmupSteps, deadAfter, coef, newKAux, evalRows, bufferBytes,
                badRows, device, threads, logEvery, maxNormRatio, normalizeActivations);
    }

    public TrainConfig withEvalRows(long v) {
        return new TrainConfig(numLatents, k, batchSize, tokens, seed, lr, warmupSteps, deadAfter, auxKCoef, kAux, v, bufferBytes,
                badRows, device, threads, logEvery, maxNormRatio, normalizeActivations);
    }

    public TrainConfig withBufferBytes(long v) {
        return new TrainConfig(numLatents, k, batchSize, tokens, seed, lr, warmupSteps, deadAfter, auxKCoef, kAux, evalRows, v,
                badRows, device, threads, logEvery, maxNormRatio, normalizeActivations);
    }

    public TrainConfig withBadRows(BadRowPolicy v) {
        return new TrainConfig(numLatents, k, batchSize, tokens, seed, lr, warmupSteps, deadAfter, auxKCoef, kAux, evalRows, bufferBytes,
                v, device, threads, logEvery, maxNormRatio, normalizeActivations);
    }

    public TrainConfig withDevice(Device v, int newThreads) {
        return new TrainConfig(numLatents, k, batchSize, tokens, seed, lr, warmupSteps, deadAfter, auxKCoef, kAux, evalRows, bufferBytes,
                badRows, v, newThreads, logEvery, maxNormRatio, normalizeActivations);
    }

    public TrainConfig withMaxNormRatio(double v) {
        return new TrainConfig(numLatents, k, batchSize, tokens, seed, lr, warmupSteps, deadAfter, auxKCoef, kAux, evalRows, bufferBytes,
                badRows, device, threads, logEvery, v, normalizeActivations);
    }

    public TrainConfig withNormalizeActivations(boolean v) {
        return new TrainConfig(numLatents, k, batchSize, tokens, seed, lr, warmupSteps, deadAfter, auxKCoef, kAux, evalRows, bufferBytes,
                badRows, device, threads, logEvery, maxNormRatio, v);
    }

    public TrainConfig withLogEvery(int v) {
        return new TrainConfig(numLatents, k, batchSize, tokens, seed, lr, warmupSteps, deadAfter, auxKCoef, kAux, evalRows, bufferBytes,
                badRows, device, threads, v, maxNormRatio, normalizeActivations);
    }
}
