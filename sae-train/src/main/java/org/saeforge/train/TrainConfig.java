package org.saeforge.train;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.ArrayList;
import java.util.List;
import org.saeforge.core.SaeException;
import org.saeforge.core.data.BadRowPolicy;
import org.saeforge.core.io.Json;
import org.saeforge.core.kernels.Device;
import org.saeforge.core.kernels.cuda.GemmPrecision;
import org.saeforge.core.model.Architecture;

/**
 * Everything that defines the training of one SAE. Defaults live in {@link #defaults(Architecture, int, int)} and
 * {@link Builder} and nowhere else; "auto" values (NaN or -1) are resolved by the {@code effective*} methods from the
 * budget, so that a run needs no tuning.
 *
 * @param architecture   topk, batchtopk, jumprelu, relu or matryoshka (default topk)
 * @param numLatents     dictionary size
 * @param k              active latents per row: TopK k, BatchTopK/Matryoshka mean k per row; for JumpReLU the
 *                       target L0 of the penalty {@code l0Coef·(L0/k − 1)²}, or 0 for the linear penalty
 *                       {@code l0Coef·L0}; 0 for ReLU
 * @param batchSize      rows per optimiser step (default 4096)
 * @param tokens         training rows to consume in total; steps = tokens / batchSize
 * @param seed           seeds initialisation, the held-out split and the data order (default 0)
 * @param lr             Adam learning rate; NaN (default) means {@link #autoLr}
 * @param warmupSteps    linear warm-up steps; -1 means min(1000, 5% of steps) (ReLU: at least min(100, a third of the steps))
 * @param lrSchedule     decay after warm-up: constant, linear (default) or cosine
 * @param lrDecayStart   fraction of the run at which the decay starts; -1 (default) means right after warm-up
 * @param lrFinal        learning rate at the end as a fraction of the peak (default 0)
 * @param kStart         k at step 0, annealed linearly down to k (TopK, BatchTopK, Matryoshka); 0: no annealing; -1
 *                       (default) means {@link #autoKStart}
 * @param kAnneal        fraction of the run over which k anneals from kStart to k (default {@link #DEFAULT_K_ANNEAL})
 * @param deadAfter      a latent not firing for this many rows is dead and feeds AuxK; -1 (default) means
 *                       {@link #autoDeadAfter}
 * @param reviveAfter    all but ReLU: a latent without a positive activation for more than this many rows is revived
 *                       every step until it fires again (encoder bias and row, and the JumpReLU threshold;
 *                       {@link org.saeforge.core.kernels.Revival}; {@link #effectiveReviveAfter}); -1 (default) means
 *                       {@link #autoReviveAfter}, 0 turns it off
 * @param reviveRate     the bias step as a fraction of the batch's mean positive activation, and the fraction by which a
 *                       JumpReLU threshold falls, times sqrt(lr / peak lr) (default 0.02)
 * @param auxKCoef       AuxK loss coefficient (default 1/32, TopK/BatchTopK/Matryoshka); 0 disables AuxK
 * @param kAux           latents AuxK selects per row; -1 means dIn / 2
 * @param l1Coef         ReLU: L1 coefficient on activations weighted by decoder row norms (default 5, in units where
 *                       the mean squared row norm is dIn)
 * @param l1Relief       ReLU: a latent firing on fewer than this fraction of a batch's rows pays only its share
 *                       {@code fired / (l1Relief · batch)} of the L1 term in that step ({@link ReluL1Objective}); 0 turns
 *                       it off; -1 (default) means {@link #DEFAULT_L1_RELIEF}, at least {@link #RELU_MIN_RELIEF_ROWS} rows
 *                       ({@link #effectiveL1Relief})
 * @param lazyAdam       ReLU: a latent that fires on no row of the batch keeps its weights and Adam moments in that step
 *                       ({@link AdamOptimizer}); null (default) means on for ReLU ({@link #effectiveLazyAdam})
 * @param dedupEvery     TopK on the CPU: rows between checks for duplicate latents, whose duplicates restart on
 *                       residuals ({@link DuplicateResampler}); -1 (default) and 0 mean off ({@link #effectiveDedupEvery})
 * @param lrRace         TopK on the CPU with the default learning rate: race {@link #RACE_FACTORS} times the default
 *                       rate over the first {@link #RACE_UNTIL} of the run and train on with the one of the lowest
 *                       projected batch FVU ({@link LrRace}); null (default) means on where it applies ({@link #effectiveLrRace}), false off
 * @param lrRaced        the rate a race chose (or a racer's rate while it runs); NaN (default) before a race
 * @param l0Coef         JumpReLU: L0 penalty coefficient; NaN (default) means 1 with a target L0 (k > 0) and is
 *                       required without one
 * @param sparsityWarmup fraction of the run over which the L1/L0 coefficient rises linearly from 0; -1 (default) means
 *                       {@link #reluSparsityWarmup} of the run's tokens for ReLU and {@link #SPARSITY_WARMUP} for the others
 *                       ({@link #effectiveSparsityWarmup})
 * @param bandwidth      JumpReLU straight-through rectangle-kernel bandwidth (default 0.05)
 * @param initThreshold  JumpReLU initial threshold (default 0.01)
 * @param thresholdLr    JumpReLU: learning rate of the log-thresholds as a multiple of lr (default 10): Adam moves a
 *                       log-threshold by about lr per step, too slow to reach useful thresholds from 0.01 in a short run
 * @param prefixes       Matryoshka nested prefix sizes, ascending, below numLatents (the whole dictionary is always
 *                       the last prefix); empty (default) means numLatents/16, /8, /4, /2
 * @param evalRows       held-out rows; -1 means {@link org.saeforge.core.data.HeldOutSplit#defaultEvalRows}
 * @param bufferBytes    memory budget of the shuffle buffer; -1 means min(2^20 rows, 1 GiB)
 * @param badRows        what to do with rows holding NaN or infinity (default skip)
 * @param device         kernels backend (default cpu); cuda trains topk only
 * @param threads        CPU worker threads (default: available processors)
 * @param logEvery       steps between metrics.jsonl lines and progress updates; -1 means about 100 per run
 * @param maxNormRatio   drop rows whose L2 norm exceeds this times the median row norm of a sample; 0 (default) keeps all
 * @param normalizeActivations train on rows scaled so that their mean squared norm is dIn and fold the scale into the
 *                       exported weights (default false; the CLI turns it on for jumprelu and relu)
 * @param checkpointEvery rows between checkpoints (with an output directory); -1 (default) means about every 10% of
 *                       the run; 0 means only at the end
 * @param keepCheckpoints checkpoints kept, newest first (default 2)
 * @param gemmPrecision  operand precision of the encoder product on the GPU: bf16 (default, as sparsify's CUDA default),
 *                       tf32 or fp32; the CPU backends compute in fp32 whatever it says
 * @param trainRows      the rows the run draws its batches from (the data less the held-out rows); -1 (default) until
 *                       the {@link Trainer} knows its data. With the tokens it gives the passes over the data
 *                       ({@link #passes}), which JumpReLU's default rate and revival window scale with
 * @param dIn            the width of the data's rows; -1 (default) until the {@link Trainer} knows its data. It bounds
 *                       the default learning rate ({@link #lrCeiling})
 */
public record TrainConfig(Architecture architecture, int numLatents, int k, int batchSize, long tokens, long seed, double lr,
                          int warmupSteps, LrSchedule.Shape lrSchedule, double lrDecayStart, double lrFinal, int kStart,
                          double kAnneal, long deadAfter, long reviveAfter, double reviveRate, double auxKCoef, int kAux, double l1Coef, double l1Relief, Boolean lazyAdam, long dedupEvery,
                          Boolean lrRace, double lrRaced, double l0Coef, double sparsityWarmup, double bandwidth, double initThreshold, double thresholdLr, List<Integer> prefixes, long evalRows,
                          long bufferBytes, BadRowPolicy badRows, Device device, int threads, int logEvery, double maxNormRatio,
                          boolean normalizeActivations, long checkpointEvery, int keepCheckpoints, GemmPrecision gemmPrecision,
                          long trainRows, int dIn) {

    public static final int DEFAULT_BATCH = 4096;
    public static final double DEFAULT_AUXK_COEF = 1.0 / 32;
    /** The default fraction of the run over which k anneals down from its start value. */
    public static final double DEFAULT_K_ANNEAL = 0.8;
    public static final double DEFAULT_REVIVE_RATE = 0.02;
    /** ReLU L1 coefficient (the PyTorch peer's and Anthropic's value in units where E‖x‖² = dIn). */
    public static final double DEFAULT_L1_COEF = 5;
    /**
     * ReLU's relief for rare latents: below one firing in 1,024 rows of a batch (4 rows at batch 4096) a latent pays
     * that share of its L1 term. Measured (docs/training.md, "ReLU: relief for rare latents"; 4096 latents): at 10M unique
     * rows 1.1% of the latents silent on 10k unseen rows against 19.5% without, none never firing on 1M unseen rows
     * against 9; at 30M rows 23 against 131 (114 at sparsify's rate); the FVU a little lower at every budget measured.
     */
    public static final double DEFAULT_L1_RELIEF = 1.0 / 1024;
    /** The dead window never exceeds this many rows (sparsify's fixed default). */
    public static final long MAX_DEAD_AFTER = 10_000_000L;
    /** The learning rates a race tries, as multiples of the default rate (docs/training.md, "TopK: a learning-rate race"). */
    public static final double[] RACE_FACTORS = {1, 1.5, 2.25};
    /** The fraction of the run the racers train side by side before the one of the lowest projected FVU goes on alone. */
    public static final double RACE_UNTIL = 0.3;
    /**
     * The fraction of the run over which each racer's batch FVU is averaged, in a window ending at the decision and in
     * one ending two windows earlier ({@link LrRace}).
     */
    public static final double RACE_WINDOW = 0.05;
    /** Runs shorter than this many steps do not race (too few steps to tell rates apart). */
    public static final long RACE_MIN_STEPS = 50;

    public TrainConfig {
        if (architecture == null || badRows == null || device == null || lrSchedule == null || gemmPrecision == null) {
            throw new SaeException("architecture, lr schedule, bad-rows policy, device and GEMM precision must be set");
        }
        prefixes = prefixes == null ? List.of() : List.copyOf(prefixes);
        String arch = "--architecture " + architecture.cliName();
        if (numLatents < 1) {
            throw new SaeException("--num-latents must be at least 1, got " + numLatents);
        }
        switch (architecture) {
            case TOPK, BATCH_TOPK, MATRYOSHKA -> {
                if (k < 1 || k > numLatents) {
                    throw new SaeException("--k must be in [1, num-latents=" + numLatents + "], got " + k);
                }
            }
            case JUMPRELU -> {
                if (k < 0 || k > numLatents) {
                    throw new SaeException("--k (target L0) must be in [0, num-latents=" + numLatents + "], got " + k);
                }
                if (k == 0 && Double.isNaN(l0Coef)) {
                    throw new SaeException(arch + " needs --k (target L0) or --l0-coef (linear L0 penalty)");
                }
            }
            case RELU -> {
                if (k != 0) {
                    throw new SaeException("--k does not apply to " + arch + " (its sparsity comes from --l1-coef)");
                }
            }
            default -> throw new IllegalStateException("unhandled architecture " + architecture);
        }
        if (kStart < -1) {
            throw new SaeException("--k-start must be >= 0 (0 turns annealing off), got " + kStart);
        }
        if (kStart > 0 && (!architecture.usesK() && !architecture.batchSelection() || kStart < k || kStart > numLatents)) {
            throw new SaeException("--k-start must be in [k=" + k + ", num-latents=" + numLatents + "] and needs a topk, batchtopk or "
                    + "matryoshka SAE, got " + kStart);
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
        requireFraction(lrDecayStart, "--lr-decay-start", true);
        requireFraction(lrFinal, "--lr-final", false);
        requireFraction(kAnneal, "--k-anneal", false);
        requireFraction(sparsityWarmup, "--sparsity-warmup", true);
        if (deadAfter < 1 && deadAfter != -1) {
            throw new SaeException("--dead-after must be at least 1 row, got " + deadAfter);
        }
        if (reviveAfter < -1) {
            throw new SaeException("--revive-after must be >= 0 rows (0 turns it off), got " + reviveAfter);
        }
        if (reviveAfter > 0 && !revives(architecture)) {
            throw new SaeException("--revive-after does not apply to " + arch + ": under its L1 penalty the latents revival raises keep "
                    + "firing with decoder rows shrunk to nothing (measured in docs/training.md); use 0 or leave it out");
        }
        if (!(reviveRate >= 0 && reviveRate <= 1)) {
            throw new SaeException("--revive-rate must be in [0, 1], got " + reviveRate);
        }
        if (!(auxKCoef >= 0 && Double.isFinite(auxKCoef))) {
            throw new SaeException("--auxk-coef must be >= 0, got " + auxKCoef);
        }
        if (kAux == 0 || kAux < -1) {
            throw new SaeException("--k-aux must be at least 1, got " + kAux);
        }
        if (!(l1Coef >= 0 && Double.isFinite(l1Coef))) {
            throw new SaeException("--l1-coef must be >= 0, got " + l1Coef);
        }
        if (!(l1Relief >= 0 && l1Relief <= 1) && l1Relief != -1) {
            throw new SaeException("--l1-relief must be in [0, 1] (0 turns it off), got " + l1Relief);
        }
        if (Boolean.TRUE.equals(lazyAdam) && architecture != Architecture.RELU) {
            throw new SaeException("--lazy-adam applies to --architecture relu only (measured there), not " + arch);
        }
        if (dedupEvery < -1) {
            throw new SaeException("--dedup-every must be >= 0 rows (0 turns it off), got " + dedupEvery);
        }
        if (dedupEvery > 0 && architecture != Architecture.TOPK) {
            throw new SaeException("--dedup-every applies to --architecture topk only (measured there), not " + arch);
        }
        if (Boolean.TRUE.equals(lrRace)) {
            if (!Double.isNaN(lr)) {
                throw new SaeException("--lr-race races the default learning rate: leave --lr out, or use --no-lr-race");
            }
            if (architecture != Architecture.TOPK) {
                throw new SaeException("--lr-race applies to --architecture topk only (measured there), not " + arch);
            }
            if (device == Device.CUDA) {
                throw new SaeException("--lr-race is not implemented on --device cuda yet; leave it out there");
            }
        }
        if (!Double.isNaN(lrRaced) && !(lrRaced > 0 && Double.isFinite(lrRaced))) {
            throw new SaeException("lr_raced must be a positive learning rate, got " + lrRaced);
        }
        if (dedupEvery > 0 && device == Device.CUDA) {
            throw new SaeException("--dedup-every is not implemented on --device cuda yet; use 0 or leave it out there");
        }
        if (!Double.isNaN(l0Coef) && !(l0Coef >= 0 && Double.isFinite(l0Coef))) {
            throw new SaeException("--l0-coef must be >= 0, got " + l0Coef);
        }
        if (!(bandwidth > 0 && Double.isFinite(bandwidth))) {
            throw new SaeException("--bandwidth must be positive, got " + bandwidth);
        }
        if (!(initThreshold > 0 && Double.isFinite(initThreshold))) {
            throw new SaeException("--init-threshold must be positive, got " + initThreshold);
        }
        if (!(thresholdLr > 0 && Double.isFinite(thresholdLr))) {
            throw new SaeException("--threshold-lr must be positive, got " + thresholdLr);
        }
        int prev = 0;
        for (int p : prefixes) {
            if (p <= prev || p >= numLatents) {
                throw new SaeException("--prefixes must be ascending sizes in [1, num-latents=" + numLatents + "), got " + prefixes);
            }
            prev = p;
        }
        if (!prefixes.isEmpty() && architecture != Architecture.MATRYOSHKA) {
            throw new SaeException("--prefixes applies to --architecture matryoshka only");
        }
        if (evalRows < -1) {
            throw new SaeException("--eval-rows must be >= 0, got " + evalRows);
        }
        if (threads < 1) {
            throw new SaeException("--threads must be at least 1, got " + threads);
        }
        if (!(maxNormRatio == 0 || (maxNormRatio > 1 && Double.isFinite(maxNormRatio)))) {
            throw new SaeException("--max-norm-ratio must be greater than 1 (or 0 for no limit), got " + maxNormRatio);
        }
        if (checkpointEvery < -1) {
            throw new SaeException("--checkpoint-every must be >= 0 rows, got " + checkpointEvery);
        }
        if (trainRows < 1 && trainRows != -1) {
            throw new SaeException("the training rows must be at least 1 (or -1: not known yet), got " + trainRows);
        }
        if (dIn < 1 && dIn != -1) {
            throw new SaeException("the row width d_in must be at least 1 (or -1: not known yet), got " + dIn);
        }
        if (keepCheckpoints < 1) {
            throw new SaeException("--keep-checkpoints must be at least 1, got " + keepCheckpoints);
        }
        if (device == Device.CUDA && !cudaTrains(architecture)) {
            throw new SaeException(arch + " is not supported on --device cuda (the CUDA backend trains topk only); use --device cpu");
        }
    }

    /**
     * Whether the GPU trains this architecture: the one place of that rule. {@code --device cuda} refuses the others
     * (above); {@code --device auto} trains them on the CPU.
     */
    public static boolean cudaTrains(Architecture architecture) {
        return architecture == Architecture.TOPK;
    }

    /**
     * Whether {@code other} trains the same SAE: equal but for where it runs (device, threads, GEMM precision) and for
     * the training rows, which the data decides (a resume checks the data itself). A run checkpointed on one backend
     * resumes on another under this rule.
     */
    public boolean sameTraining(TrainConfig other) {
        return other != null && placeless().equals(other.placeless());
    }

    private TrainConfig placeless() {
        return toBuilder().device(Device.CPU).threads(1).gemmPrecision(GemmPrecision.BF16).trainRows(-1).dIn(-1).build();
    }

    /** This configuration with the training rows set where they are unknown (-1); see {@link #passes}. */
    public TrainConfig withTrainRowsIfUnknown(long rows) {
        return trainRows > 0 ? this : toBuilder().trainRows(rows).build();
    }

    /** This configuration with the row width set where it is unknown (-1); see {@link #lrCeiling}. */
    public TrainConfig withDInIfUnknown(int width) {
        return dIn > 0 ? this : toBuilder().dIn(width).build();
    }

    /** How many times the run reads its training rows: tokens / trainRows; 1 while the rows are unknown. */
    public double passes() {
        return trainRows > 0 ? (double) tokens / trainRows : 1;
    }

    private static void requireFraction(double v, String flag, boolean autoAllowed) {
        if (autoAllowed && v == -1) {
            return;
        }
        if (!(v >= 0 && v <= 1)) {
            throw new SaeException(flag + " must be a fraction in [0, 1], got " + v);
        }
    }

    /** The defaults for a TopK dictionary of numLatents with k active; tokens default to 10 batches until set. */
    public static TrainConfig defaults(int numLatents, int k) {
        return defaults(Architecture.TOPK, numLatents, k);
    }

    /** The defaults for the given architecture (k = 0 for relu, or jumprelu without a target L0). */
    public static TrainConfig defaults(Architecture architecture, int numLatents, int k) {
        return new Builder().architecture(architecture).numLatents(numLatents).k(k).build();
    }

    public Builder toBuilder() {
        return new Builder(this);
    }

    public long steps() {
        return tokens / batchSize;
    }

    /**
     * The learning rate to use: the given one, or {@link #autoLr} held at most {@link #lrCeiling(Architecture, int)} of
     * the row width once the trainer knows it (never below {@link #sparsifyLr}).
     */
    public double effectiveLr() {
        if (!Double.isNaN(lr)) {
            return lr;
        }
        if (!Double.isNaN(lrRaced)) {
            return lrRaced;
        }
        return ruleLr();
    }

    /** The default learning rate before any race: {@link #autoLr} held at most the ceiling of the row width. */
    public double ruleLr() {
        double auto = autoLr(architecture, numLatents, steps(), passes(), l1Coef);
        return dIn > 0 ? Math.min(auto, Math.max(sparsifyLr(numLatents), lrCeiling(architecture, dIn))) : auto;
    }

    /**
     * The default learning rate: sparsify's {@code 2e-4 / sqrt(numLatents / 2^14)}, raised for short runs by
     * {@code m · sqrt(20000 / steps)} (never below sparsify's, at most 16x, 32x for batch selection) with m = 1.5 for
     * TopK, 2.25 for BatchTopK and Matryoshka and 1 for JumpReLU (whose rate is then tripled, {@link #jumpReluLrFactor});
     * TopK's boost and cap grow as {@code (numLatents / 4096)^0.25} above 4096 latents ({@link #TOPK_WIDTH_EXPONENT});
     * ReLU's boost is {@code (9000 / steps)^1.2}, at most {@code 24 (numLatents / 4096)^0.25} x ({@link #RELU_LR_STEPS}, {@link #RELU_LR_EXPONENT},
     * {@link #RELU_LR_CAP}, {@link #RELU_CAP_WIDTH_EXPONENT}). Measured on synthetic data
     * (benchmarks/results/defaults-sweep-*.json, arch-lr-sweep-*.json, architectures-*.json; 4096 latents): without
     * revival the best TopK rate of a sweep was 4e-3 at 244 and 732 steps and 2e-3 at 2441 steps; with revival (which
     * keeps latents firing at higher rates) the best rates rose (8e-3 at 244 steps, 4e-3 at 732), hence TopK's 1.5
     * (5.4e-3, 3.1e-3 and 1.7e-3 at those budgets); with revival the batch-selection architectures did best at 8e-3 to
     * 1.6e-2 at 244 steps and 4e-3 to 1.6e-2 at 732 (1.6e-2 at 244 steps already 22% worse on repeated rows), hence
     * their 2.25 (8.1e-3, 4.7e-3 and 2.6e-3; the best at 2441 steps was 4e-3, 3% better); sparsify's value suits runs of
     * tens of thousands of steps; JumpReLU (on normalized rows, with thresholds to learn) did best at about twice the
     * TopK rate of the first measurement, and in 2026-11-28's measurements at three times it.
     */
    public static double autoLr(Architecture architecture, int numLatents, long steps) {
        return autoLr(architecture, numLatents, steps, 1);
    }

    /**
     * {@link #autoLr(Architecture, int, long)} for a run that reads its training rows {@code passes} times: JumpReLU's
     * rate falls by {@code sqrt(40 / passes)} beyond {@link #JUMPRELU_LR_PASSES} passes, never below sparsify's rate
     * (with {@link #jumpReluReviveScale}; measured in docs/training.md, "JumpReLU on a reused cache").
     */
    public static double autoLr(Architecture architecture, int numLatents, long steps, double passes) {
        return autoLr(architecture, numLatents, steps, passes, DEFAULT_L1_COEF);
    }

    /**
     * {@link #autoLr(Architecture, int, long, double)} with ReLU's L1 coefficient: ReLU's boost is multiplied by
     * {@link #reluL1Scale}{@code (l1Coef)}, never below sparsify's rate (the other architectures ignore it).
     */
    public static double autoLr(Architecture architecture, int numLatents, long steps, double passes, double l1Coef) {
        double base = sparsifyLr(numLatents);
        if (architecture == Architecture.RELU) {
            double cap = RELU_LR_CAP * Math.pow(numLatents / 4096.0, RELU_CAP_WIDTH_EXPONENT);
            double boost = Math.min(cap, Math.max(1, Math.pow(RELU_LR_STEPS / Math.max(1, steps), RELU_LR_EXPONENT)));
            return base * Math.max(1, boost * reluL1Scale(l1Coef));
        }
        double shortness = 20_000.0 / Math.max(1, steps);
        double m = architecture == Architecture.TOPK ? TOPK_LR_BOOST
                : architecture.batchSelection() ? BATCH_SELECTION_LR_BOOST : 1;
        double width = architecture == Architecture.TOPK ? topkWidthFactor(numLatents) : 1;
        double cap = (architecture.batchSelection() ? 32 : 16) * width;
        double boost = Math.min(cap, Math.max(1, m * Math.sqrt(shortness) * width));
        if (architecture != Architecture.JUMPRELU) {
            return base * boost;
        }
        double reuse = Math.min(1, Math.sqrt(JUMPRELU_LR_PASSES / Math.max(1, passes)));
        return Math.max(base, base * boost * jumpReluLrFactor(passes) * reuse);
    }

    /**
     * JumpReLU's factor on its boost: 3 up to {@link #JUMPRELU_FAST_PASSES} passes over the training rows, falling
     * linearly to 2 at {@link #JUMPRELU_LR_PASSES} passes and 2 beyond (where the rate also falls as
     * {@code sqrt(40 / passes)}). It was 2 at any number of passes until 2026-11-28: on five data sets (0.33–15
     * passes, 1M and 3M rows, 4096 and 16384 latents) 1.5 times that rate gave a test FVU 4–13% lower in five cases,
     * 0.5% lower in one and 1.1% higher in one, and where 2 had been 14% above the best of five rates it is 2.4% above
     * (docs/training.md, "JumpReLU: a higher rate up to 20 passes"). From 20 to 40 passes the fall is an interpolation,
     * measured at 31.6 passes (0.6% above the best of the factors 2, 2.42 and 3); beyond 40 the rates measured at 50,
     * 150, 202 and 606 passes are kept.
     */
    public static double jumpReluLrFactor(double passes) {
        double over = (passes - JUMPRELU_FAST_PASSES) / (JUMPRELU_LR_PASSES - JUMPRELU_FAST_PASSES);
        return 3 - Math.min(1, Math.max(0, over));
    }

    /** Passes over the training rows up to which JumpReLU's default rate has the factor 3 ({@link #jumpReluLrFactor}). */
    public static final double JUMPRELU_FAST_PASSES = 20;

    /** Sparsify's learning rate, {@code 2e-4 / sqrt(numLatents / 2^14)}: the floor of every default rate. */
    public static double sparsifyLr(int numLatents) {
        return 2e-4 / Math.sqrt(numLatents / 16384.0);
    }

    /**
     * The most a default learning rate may be for rows of width {@code dIn} (never below {@link #sparsifyLr}):
     * {@code 6e-3 × (768 / dIn)^0.75} (1.37e-2 at d_in 256, 4.8e-3 at 1024, 2.9e-3 at 2048, 1.7e-3 at 4096). The boosts
     * of {@link #autoLr} were measured at d_in 256, below it. Above the best rate the FVU climbs a cliff whose foot
     * moves down as the rows widen: at d_in 768 (1M rows, 4096 latents, k 32) TopK reached 0.148 at 5.4e-3, 0.151 at
     * 7.5e-3, 0.458 at 1.09e-2, and BatchTopK's default 8.15e-3 gave 0.266 against 0.186 at 6e-3, the best of its grid;
     * at d_in 2048 TopK's 5.43e-3 gave 0.469 against 0.160 at 2.89e-3, the best of five rates. A ceiling falling as
     * {@code dIn^-0.5} through 6e-3 at 768 was 11% above that best at 2048 (docs/training.md, "Defaults at d_in 768 and
     * 2048").
     */
    public static double lrCeiling(int dIn) {
        return LR_CEILING_AT_768 * Math.pow(768.0 / dIn, LR_CEILING_EXPONENT);
    }

    /** {@link #lrCeiling(int)} at d_in 768, where BatchTopK did best and TopK's default (5.43e-3) was the best of six rates. */
    public static final double LR_CEILING_AT_768 = 6e-3;

    /** How fast {@link #lrCeiling(int)} falls with the width: the best TopK rate at d_in 2048, 2.89e-3, is 6e-3 × (768/2048)^0.75. */
    public static final double LR_CEILING_EXPONENT = 0.75;

    /**
     * {@link #lrCeiling(int)} for an architecture: twice that for JumpReLU, whose default rate is two to three times as
     * high and which trains on normalized rows with thresholds to learn. At d_in 768 it showed no cliff: 6e-3 was 5.3%
     * above its 7.24e-3 (the best of its grid) and 1.45e-2 only 12% above.
     */
    public static double lrCeiling(Architecture architecture, int dIn) {
        return (architecture == Architecture.JUMPRELU ? 2 : 1) * lrCeiling(dIn);
    }

    /** Passes over the training rows beyond which JumpReLU's default rate falls (see {@link #autoLr}). */
    public static final double JUMPRELU_LR_PASSES = 40;

    /** Passes over the training rows beyond which JumpReLU's default revival window grows ({@link #jumpReluReviveScale}). */
    public static final double JUMPRELU_WINDOW_PASSES = 20;

    /**
     * The factor on JumpReLU's default revival window for a run of {@code passes} over its training rows:
     * {@code max(1, passes / 20)}. On a small cache read many times, revival made latents fire on reused rows (test
     * L0 above the target, FVU 13–21% worse than sparsify's rate at 150 passes) until the window grew and the rate fell
     * with the passes (docs/training.md, "JumpReLU on a reused cache").
     */
    public static double jumpReluReviveScale(double passes) {
        return Math.max(1, passes / JUMPRELU_WINDOW_PASSES);
    }

    /** TopK's extra factor on the short-run boost of {@link #autoLr}: its revival makes higher rates pay. */
    public static final double TOPK_LR_BOOST = 1.5;

    /**
     * TopK's short-run boost and its cap of 16 grow as {@code (numLatents / 4096)^0.25} above 4096 latents
     * ({@link #topkWidthFactor}), so that a short run's rate falls as the fourth root of the width there, not as the
     * square root of sparsify's factor (as ReLU's cap, {@link #RELU_CAP_WIDTH_EXPONENT}). At d_in 768 and 1M rows (244
     * steps) 16384 latents did best at 3.8e-3 of 1.4e-3, 2.72e-3, 3.8e-3 and 5.4e-3, where the √ rule's 2.72e-3 was 9.7%
     * above it; this factor gives 3.84e-3 (at 3M rows 2.22e-3, the best of three: the √ rule's 1.57e-3 was 2.9% above
     * it). At 8192 latents it raises the rate by 19% and stayed within 0.4% of the best: at 2M rows (1M read twice)
     * 3.23e-3 gave 0.0803 against 0.0807 at the √ rule's 2.72e-3, and at 3M unique rows 2.64e-3 gave 0.0683 against
     * 0.0681 at 2.22e-3 (3.2e-3: 0.0730). Below 4096 latents the √ rule stayed (2048 latents at d_in 768: +0.6% and
     * +0.3% of the best at 3M and 10M rows); docs/training.md, "TopK: the best rate depends on the dictionary's size".
     */
    public static final double TOPK_WIDTH_EXPONENT = 0.25;

    /** The factor of {@link #TOPK_WIDTH_EXPONENT} on TopK's boost and cap: {@code max(1, numLatents / 4096)^0.25}. */
    public static double topkWidthFactor(int numLatents) {
        return Math.pow(Math.max(1, numLatents / 4096.0), TOPK_WIDTH_EXPONENT);
    }

    /** BatchTopK's and Matryoshka's factor on the short-run boost of {@link #autoLr} (with revival, as TopK's). */
    public static final double BATCH_SELECTION_LR_BOOST = 2.25;

    /**
     * ReLU's short-run boost in {@link #autoLr} is {@code (9000 / steps)^1.2}: sparsify's rate from 9,000 steps on
     * (37M rows at batch 4096), 20x at 732 steps (8.1e-3 at 4096 latents) and 4.8x at 2441 (1.9e-3). With the L1 relief
     * and the warm-up of {@link #RELU_MIN_WARMUP_STEPS}, at 732 steps (3M rows) 8e-3 and 1.2e-2 were within 5% of the
     * best FVU of a sweep with none dead (1.6e-2 was the best, with 3; 2.4e-2 left 315), but at 2441 steps (10M rows)
     * 2.29e-3 already left 2 latents dead where sparsify's rate left none, and 9.2e-3 collapsed: a steeper fall than the
     * 0.75 power used before, which gave 4.78e-3 at 3M rows, 5.3% above the best FVU (docs/training.md, "ReLU: a
     * steeper rate for short runs").
     */
    public static final double RELU_LR_EXPONENT = 1.2;

    /** The run length (steps) from which ReLU's default rate is sparsify's; see {@link #RELU_LR_EXPONENT}. */
    public static final double RELU_LR_STEPS = 9_000;

    /**
     * The cap on ReLU's boost: 24x sparsify's rate (9.6e-3 at 4096 latents; it binds up to 636 steps). At 244 steps (1M
     * rows) the FVU fell as the rate rose up to 2.56e-2 (0.5166, 39 latents dead on 1M unseen rows); 9.6e-3 was 3.9%
     * above that with none dead, and the 4.8e-3 of the cap of 12 used before 9.6% above.
     */
    public static final double RELU_LR_CAP = 24;

    /**
     * ReLU's cap grows with the width as {@code (numLatents / 4096)^0.25}, so that the capped rate falls only as the
     * fourth root of the width (9.6e-3 at 4096 latents, 8.1e-3 at 8192, 6.8e-3 at 16384) where the base falls as the
     * square root. At 1M rows the best rate of a sweep was 9.6e-3 or more at 2048, 4096, 8192 and 16384 latents; with
     * lazy Adam 6.8e-3 at 16384 latents was 3% above the best FVU with none dead (the rule's 6.79e-3: one), where the
     * square root's 4.8e-3 was 7% above (docs/training.md, "ReLU: lazy Adam").
     */
    public static final double RELU_CAP_WIDTH_EXPONENT = 0.25;

    /**
     * ReLU's factor on its short-run boost for an L1 coefficient c above the default 5: {@code sqrt(5 / c)}, c held at
     * most 10 (the largest measured); 1 at and below 5. A stronger penalty silences more latents at the same rate: at 1M
     * rows and 4096 latents with L1 10 the rule's 9.6e-3 left 3 latents dead on 1M unseen rows (sparsify's rate: none),
     * 6.8e-3 none, at 2.5% above the best FVU of a grid. A weaker penalty does not earn a higher rate: with L1 2, 1.52e-2
     * was 2.8% above the best at 1M rows with none dead (the rule: 9.4% above), but at 3M rows 1.28e-2 collapsed (1,473
     * latents dead, L0 13) (docs/training.md, "ReLU: other L1 coefficients and batch sizes").
     */
    public static double reluL1Scale(double l1Coef) {
        return Math.sqrt(DEFAULT_L1_COEF / Math.max(DEFAULT_L1_COEF, Math.min(RELU_L1_MEASURED_MAX, l1Coef)));
    }

    /** The largest L1 coefficient at which {@link #reluL1Scale} was measured; above it the factor stays at its value there. */
    public static final double RELU_L1_MEASURED_MAX = 10;

    public int effectiveWarmupSteps() {
        if (warmupSteps >= 0) {
            return warmupSteps;
        }
        long fivePercent = Math.min(1000, steps() / 20);
        if (architecture == Architecture.RELU) {
            return (int) Math.max(fivePercent, Math.min(RELU_MIN_WARMUP_STEPS, steps() / 3));
        }
        return (int) fivePercent;
    }

    /**
     * ReLU's learning-rate warm-up lasts at least this many steps (at most a third of the run): with 5% of a short run
     * (6 steps at 500k rows, 12 at 1M) Adam's first full-rate steps silenced most latents (500k rows at 4.4e-3: 92%
     * silent), and at 1M and 3M rows a longer warm-up lowered the FVU by 13% and 7% (docs/training.md, "ReLU: a
     * steeper rate for short runs").
     */
    public static final int RELU_MIN_WARMUP_STEPS = 100;

    /** Rows without firing after which a latent counts as dead: the given value or {@link #autoDeadAfter}. */
    public long effectiveDeadAfter() {
        return deadAfter > 0 ? deadAfter : autoDeadAfter(steps() * batchSize);
    }

    /**
     * The default dead window: a tenth of the run (so that AuxK gets to revive latents in short runs) between 5 batches
     * of 4096 rows and sparsify's 10M rows.
     */
    public static long autoDeadAfter(long trainRows) {
        return Math.max(5L * DEFAULT_BATCH, Math.min(MAX_DEAD_AFTER, trainRows / 10));
    }

    /** Rows without a positive activation after which a latent's bias is raised (0: never): the given value or the default. */
    public long effectiveReviveAfter() {
        if (reviveAfter >= 0) {
            return reviveAfter;
        }
        if (!revives(architecture) || reviveRate <= 0) {
            return 0;
        }
        long window = autoReviveAfter(numLatents, k > 0 ? k : ASSUMED_L0);
        return architecture == Architecture.JUMPRELU ? Math.round(window * jumpReluReviveScale(passes())) : window;
    }

    /** The L0 the default revival window assumes where k sets none (JumpReLU without a target L0). */
    public static final int ASSUMED_L0 = 32;

    /**
     * Whether revival serves the architecture: all but ReLU. With ReLU's L1 penalty on an unconstrained decoder, the
     * latents revival raised kept firing with decoder rows shrunk to nothing (measured: test L0 148 against 21 and 10%
     * of the true features recovered against 28%, at 3M rows; the bias step alone changed little).
     */
    public static boolean revives(Architecture architecture) {
        return architecture != Architecture.RELU;
    }

    /**
     * The default revival window: 8 times the mean interval between a latent's selections, {@code numLatents / k} rows
     * (2048 rows for 4096 latents at k = 16: at batch 4096 a latent is silent when the last batch gave it no positive
     * activation). It was 16 times until revival also trained the encoder row ({@link org.saeforge.core.kernels.Revival});
     * with the encoder step the shorter window left fewer latents silent on held-out rows at 1M and 3M rows of training
     * (measurements in docs/training.md).
     */
    public static long autoReviveAfter(int numLatents, int k) {
        return 8L * Math.max(1, (numLatents + k - 1) / Math.max(1, k));
    }

    /**
     * Revival stops once, after the warm-up, the learning rate has fallen below this fraction of its peak (the last 3%
     * of a run under the default linear decay). Its encoder step is not scaled by the learning rate: a silent
     * latent's row loses its negative component along the mean input at once, and the latent then fires on many rows.
     * Early in a run the gradient undoes the excess; at the end of the decay it cannot, and each latent pushed out of
     * the top k by one that was revived fell silent in turn and was revived at the next step. Measured (d_in 768, 4096
     * latents, 10M rows): the silent latents per step rose from about 10 to 190 over the last 41 steps, 1,872 encoder
     * rows were projected, and the test FVU went from 0.076 at step 2400 to 0.110 at the end; docs/training.md, "Revival
     * stops at the end of the decay".
     */
    public static final double REVIVE_MIN_LR = 0.03;

    /**
     * The revival step at a step, as a fraction of the batch's mean positive activation: reviveRate ·
     * sqrt(lr(step) / peak lr), so that it fades with the learning rate, and 0 after the warm-up once the learning rate is
     * below {@link #REVIVE_MIN_LR} of its peak, so that latents settle at the end of the run. Both trainers take no
     * revival step (bias, encoder or threshold) at a rate of 0.
     */
    public double reviveRateAt(LrSchedule schedule, long step) {
        double peak = schedule.peakLr();
        double lr = Math.max(0, schedule.lrAt(step));
        if (!(peak > 0) || step >= effectiveWarmupSteps() && lr < REVIVE_MIN_LR * peak) {
            return 0;
        }
        return reviveRate * Math.sqrt(lr / peak);
    }

    public int effectiveKAux(int dIn) {
        return kAux > 0 ? kAux : Math.max(1, dIn / 2);
    }

    public int effectiveLogEvery() {
        return logEvery > 0 ? logEvery : (int) Math.max(1, steps() / 100);
    }

    /** The L0 penalty coefficient (JumpReLU). */
    public double effectiveL0Coef() {
        return Double.isNaN(l0Coef) ? 1.0 : l0Coef;
    }

    /** k at step 0: the given value (0 = no annealing, which is k) or {@link #autoKStart}. */
    public int effectiveKStart() {
        if (kStart > 0) {
            return Math.max(k, kStart);
        }
        if (kStart == 0) {
            return k;
        }
        return autoKStart(architecture, numLatents, k);
    }

    /**
     * The default k at step 0: TopK starts at 2k (at most num_latents) and anneals down to k over the first
     * {@link #DEFAULT_K_ANNEAL} of the run; the other architectures start at k. Measured on synthetic data (docs/training.md,
     * benchmarks/results/defaults-sweep-*-2026-11-26.json): more rows train each latent while its niche forms, which
     * cut the latents that never fire on unseen rows at every budget measured.
     */
    public static int autoKStart(Architecture architecture, int numLatents, int k) {
        return architecture == Architecture.TOPK && k > 0 ? Math.min(numLatents, 2 * k) : k;
    }

    /** k in force at a step: annealed linearly from the effective k-start to k over the first kAnneal of the run. */
    public int kAt(long step) {
        int start = effectiveKStart();
        if (start <= k) {
            return k;
        }
        long annealSteps = Math.round(kAnneal * steps());
        if (step >= annealSteps) {
            return k;
        }
        return (int) Math.round(start + (double) (k - start) * step / annealSteps);
    }

    /** The largest k of the run (buffers are sized for it). */
    public int maxK() {
        return Math.max(k, effectiveKStart());
    }

    /** The L1/L0 warm-up of JumpReLU (and of any architecture but ReLU): 5% of the run. */
    public static final double SPARSITY_WARMUP = 0.05;

    /**
     * The shortest ReLU L1 warm-up, as a fraction of the run: 60%. Measured (docs/training.md, "ReLU: a long L1
     * warm-up"): at 5%, 29–90% of the latents fell silent early in 1M–3M-row runs and never came back; at 60%, 6–14%.
     */
    public static final double RELU_SPARSITY_WARMUP = 0.6;

    /**
     * How many rows ReLU trains at its full L1 coefficient, at most: the warm-up ends this many rows before the end of
     * runs longer than {@code RELU_FULL_PENALTY_ROWS / (1 − RELU_SPARSITY_WARMUP)} (1M rows). Measured: a long stretch
     * at the full penalty silenced latents (10M rows with 4M at full penalty: 15–29% silent on unseen rows, with none:
     * 9–19%), none at all left the run short of its sparsity at 1M rows (L0 36 against 22).
     */
    public static final long RELU_FULL_PENALTY_ROWS = 400_000;

    /** ReLU's default L1 warm-up for a run of {@code tokens} rows: {@code max(0.6, 1 − 400k / tokens)}. */
    public static double reluSparsityWarmup(long tokens) {
        return tokens <= 0 ? RELU_SPARSITY_WARMUP : Math.max(RELU_SPARSITY_WARMUP, 1.0 - (double) RELU_FULL_PENALTY_ROWS / tokens);
    }

    /** ReLU's relief for rare latents ({@link ReluL1Objective}): the given value or {@link #DEFAULT_L1_RELIEF}; 0 for the others. */
    public double effectiveL1Relief() {
        if (architecture != Architecture.RELU) {
            return 0;
        }
        return l1Relief >= 0 ? l1Relief : Math.max(DEFAULT_L1_RELIEF, RELU_MIN_RELIEF_ROWS / batchSize);
    }

    /**
     * The default relief covers at least this many rows of a batch: a fraction of 1/1024 is one row at batch 1024, where a
     * latent that fires at all pays in full, so the relief did nothing. At batch 1024 and 1M rows, 4 rows (1/256) left
     * none dead on 1M unseen rows against 5, at an FVU 6.5% lower and L0 15.7 against 10.2 (docs/training.md, "ReLU:
     * other L1 coefficients and batch sizes").
     */
    public static final double RELU_MIN_RELIEF_ROWS = 4;

    /**
     * Rows between checks for duplicate latents ({@link DuplicateResampler}): the given value; off unless asked for.
     * Measured every 25 batches (102,400 rows at batch 4096; docs/training.md, "TopK: resampling duplicate latents"):
     * with as many latents as true features it closed the default rate's miss at 3M rows (test FVU 0.0838 → 0.0754,
     * the best rate without checks 0.0753) and at 16384 latents and 1M rows it beat every rate without checks (0.094
     * against 0.113), but the quickstart (2048 latents on 1,024 features, 25 passes over its rows) ended 8.5% worse
     * (6.6% since revival stops at the end of the decay) and 4096 latents on 2048 features at d_in 256 1.2% worse, so
     * it is not a default.
     */
    public long effectiveDedupEvery() {
        return Math.max(0, dedupEvery);
    }

    /** Whether the run checks for duplicates at all: a check interval that fits in the part of the run that checks. */
    public boolean checksDuplicates() {
        return checksDuplicates(effectiveDedupEvery(), batchSize, steps());
    }

    /** {@link #checksDuplicates()} for a check every {@code everyRows} rows in a run of {@code steps} batches. */
    public static boolean checksDuplicates(long everyRows, int batchSize, long steps) {
        long every = dedupEverySteps(everyRows, batchSize);
        return every > 0 && every <= DuplicateResampler.lastCheckStep(steps, batchSize);
    }

    /** {@link #effectiveDedupEvery} in whole steps, at least one (0 when off). */
    public long dedupEverySteps() {
        return dedupEverySteps(effectiveDedupEvery(), batchSize);
    }

    private static long dedupEverySteps(long rows, int batchSize) {
        return rows <= 0 ? 0 : Math.max(1, Math.round((double) rows / batchSize));
    }

    /**
     * Whether this run races its learning rate ({@link LrRace}), or raced it: the given value where it applies (TopK
     * with the default rate, {@code --lr} left out, on the CPU, in runs of at least {@link #RACE_MIN_STEPS} steps); left
     * out, on there while the rule's boost lifts the rate above sparsify's before the row width's ceiling
     * ({@link #ruleBoosted}, which does not need the width), and for a run whose race has chosen its rate.
     */
    public boolean effectiveLrRace() {
        boolean applies = architecture == Architecture.TOPK && Double.isNaN(lr) && device != Device.CUDA && steps() >= RACE_MIN_STEPS;
        if (lrRace != null) {
            return lrRace && applies;
        }
        return applies && (!Double.isNaN(lrRaced) || ruleBoosted());
    }

    /**
     * Whether {@link #autoLr} raises this run's rate above sparsify's, so that the race has a rule to correct. From there
     * on (TopK up to 4096 latents: 45,000 steps, 184M rows at batch 4096) the rule's rate is sparsify's, tuned for runs
     * that long, and the race's higher rates lost where measured: its choice was 1 times the rule's rate at 30M rows
     * (d_in 256) and at 100M (the d_in 64 proxy), and at 300M rows of the proxy twice sparsify's rate ended 2.2% above
     * the defaults at sparsify's rate, while the race costs 1.6 times the steps (docs/training.md, "Long runs: no race
     * once the rule's rate is sparsify's").
     */
    public boolean ruleBoosted() {
        return autoLr(architecture, numLatents, steps()) > sparsifyLr(numLatents);
    }

    /** Whether the race is still to run: {@link #effectiveLrRace} and no rate chosen yet. */
    public boolean racesLr() {
        return effectiveLrRace() && Double.isNaN(lrRaced);
    }

    /** The racers: this configuration at each of {@link #RACE_FACTORS} times the default rate. */
    public List<TrainConfig> raceCandidates() {
        double base = ruleLr();
        List<TrainConfig> out = new ArrayList<>();
        for (double f : RACE_FACTORS) {
            out.add(toBuilder().lrRaced(base * f).build());
        }
        return out;
    }

    /** The step after which the race is decided: {@link #RACE_UNTIL} of the run. */
    public long raceDecisionStep() {
        return Math.max(1, Math.round(RACE_UNTIL * steps()));
    }

    /** The length in steps of each window over which the race averages a racer's batch FVU: {@link #RACE_WINDOW} of the run, at least 2. */
    public long raceWindow() {
        return Math.max(2, Math.round(RACE_WINDOW * steps()));
    }

    /**
     * Whether Adam leaves a latent that fires on no row of the batch as it is in that step (its weights and moments;
     * {@link AdamOptimizer}): the given value, by default on for ReLU and off for the others. Plain Adam keeps moving
     * such a latent on its momentum, and at the higher rates of short runs that carried ReLU latents past the point
     * where they fire on any row (docs/training.md, "ReLU: lazy Adam").
     */
    public boolean effectiveLazyAdam() {
        return lazyAdam != null ? lazyAdam : architecture == Architecture.RELU;
    }

    /** The fraction of the run over which the sparsity coefficient rises: the given value or the architecture's default. */
    public double effectiveSparsityWarmup() {
        if (sparsityWarmup >= 0) {
            return sparsityWarmup;
        }
        return architecture == Architecture.RELU ? reluSparsityWarmup(tokens) : SPARSITY_WARMUP;
    }

    /** Multiplier of the L1/L0 coefficient at a step: linear warm-up from 0 over {@link #effectiveSparsityWarmup} of the run. */
    public double sparsityScaleAt(long step) {
        long warm = Math.round(effectiveSparsityWarmup() * steps());
        return warm <= 0 ? 1.0 : Math.min(1.0, (double) (step + 1) / warm);
    }

    /** Matryoshka prefix ends, ascending, the last being numLatents (a single prefix for the other architectures). */
    public int[] effectivePrefixes() {
        if (architecture != Architecture.MATRYOSHKA) {
            return new int[] {numLatents};
        }
        List<Integer> p = new ArrayList<>(prefixes);
        if (p.isEmpty()) {
            for (int div : new int[] {16, 8, 4, 2}) {
                int size = numLatents / div;
                if (size >= 1 && (p.isEmpty() || size > p.get(p.size() - 1))) {
                    p.add(size);
                }
            }
        }
        p.add(numLatents);
        return p.stream().mapToInt(Integer::intValue).toArray();
    }

    /** Rows between checkpoints (0: only the final one). */
    public long effectiveCheckpointEvery() {
        if (checkpointEvery >= 0) {
            return checkpointEvery;
        }
        return Math.max(batchSize, steps() / 10 * batchSize);
    }

    public LrSchedule schedule() {
        long steps = steps();
        long warm = effectiveWarmupSteps();
        long decay = lrDecayStart < 0 ? warm : Math.max(warm, Math.round(lrDecayStart * steps));
        return new LrSchedule(effectiveLr(), warm, decay, steps, lrSchedule, lrFinal);
    }

    /** Every field, resolved values beside the given ones, as saved in run.json and checkpoints. */
    public ObjectNode toJson() {
        ObjectNode o = Json.object();
        o.put("architecture", architecture.cliName());
        o.put("num_latents", numLatents);
        o.put("k", k);
        o.put("batch_size", batchSize);
        o.put("tokens", tokens);
        o.put("seed", seed);
        putMaybe(o, "lr", lr);
        o.put("warmup_steps", warmupSteps);
        o.put("lr_schedule", lrSchedule.cliName());
        o.put("lr_decay_start", lrDecayStart);
        o.put("lr_final", lrFinal);
        o.put("k_start", kStart);
        o.put("k_anneal", kAnneal);
        o.put("dead_after", deadAfter);
        o.put("revive_after", reviveAfter);
        o.put("revive_rate", reviveRate);
        o.put("auxk_coef", auxKCoef);
        o.put("k_aux", kAux);
        o.put("l1_coef", l1Coef);
        o.put("l1_relief", l1Relief);
        putMaybe(o, "lazy_adam", lazyAdam);
        o.put("dedup_every", dedupEvery);
        putMaybe(o, "lr_race", lrRace);
        putMaybe(o, "lr_raced", lrRaced);
        putMaybe(o, "l0_coef", l0Coef);
        o.put("sparsity_warmup", sparsityWarmup);
        o.put("bandwidth", bandwidth);
        o.put("init_threshold", initThreshold);
        o.put("threshold_lr", thresholdLr);
        ArrayNode pre = o.putArray("prefixes");
        prefixes.forEach(pre::add);
        o.put("eval_rows", evalRows);
        o.put("buffer_bytes", bufferBytes);
        o.put("bad_rows", badRows.name().toLowerCase(java.util.Locale.ROOT));
        o.put("device", device.cliName());
        o.put("threads", threads);
        o.put("log_every", logEvery);
        o.put("max_norm_ratio", maxNormRatio);
        o.put("normalize_activations", normalizeActivations);
        o.put("checkpoint_every", checkpointEvery);
        o.put("keep_checkpoints", keepCheckpoints);
        o.put("gemm_precision", gemmPrecision.suffix());
        o.put("train_rows", trainRows);
        o.put("d_in", dIn);
        ObjectNode eff = o.putObject("effective");
        eff.put("lr", effectiveLr());
        eff.put("warmup_steps", effectiveWarmupSteps());
        eff.put("dead_after", effectiveDeadAfter());
        eff.put("revive_after", effectiveReviveAfter());
        eff.put("k_start", effectiveKStart());
        eff.put("sparsity_warmup", effectiveSparsityWarmup());
        eff.put("l1_relief", effectiveL1Relief());
        eff.put("lazy_adam", effectiveLazyAdam());
        eff.put("dedup_every", effectiveDedupEvery());
        eff.put("lr_race", effectiveLrRace());
        putMaybe(eff, "lr_raced", lrRaced);
        eff.put("steps", steps());
        eff.put("passes", passes());
        ArrayNode ep = eff.putArray("prefixes");
        for (int p : effectivePrefixes()) {
            ep.add(p);
        }
        return o;
    }

    /** A flag left to its default (null) as JSON null. */
    private static void putMaybe(ObjectNode o, String key, Boolean v) {
        if (v == null) {
            o.putNull(key);
        } else {
            o.put(key, v);
        }
    }

    /** A flag {@link #putMaybe(ObjectNode, String, Boolean)} wrote; false when absent (saved before the flag existed, by a run without it). */
    private static Boolean flagOrFalse(JsonNode o, String key) {
        return !o.has(key) ? Boolean.FALSE : o.path(key).isNull() ? null : o.path(key).asBoolean();
    }

    private static void putMaybe(ObjectNode o, String key, double v) {
        if (Double.isNaN(v)) {
            o.putNull(key);
        } else {
            o.put(key, v);
        }
    }

    /** The configuration {@link #toJson()} wrote. */
    public static TrainConfig fromJson(JsonNode o) {
        Builder b = new Builder();
        b.architecture(Architecture.fromCliName(o.path("architecture").asText()));
        b.numLatents(o.path("num_latents").asInt());
        b.k(o.path("k").asInt());
        b.batchSize(o.path("batch_size").asInt());
        b.tokens(o.path("tokens").asLong());
        b.seed(o.path("seed").asLong());
        b.lr(o.path("lr").isNull() ? Double.NaN : o.path("lr").asDouble());
        b.warmupSteps(o.path("warmup_steps").asInt());
        b.lrSchedule(LrSchedule.Shape.fromCliName(o.path("lr_schedule").asText()));
        b.lrDecayStart(o.path("lr_decay_start").asDouble());
        b.lrFinal(o.path("lr_final").asDouble());
        b.kStart(o.path("k_start").asInt());
        b.kAnneal(o.path("k_anneal").asDouble());
        b.deadAfter(o.path("dead_after").asLong());
        // runs saved before revival existed did not revive
        b.reviveAfter(o.has("revive_after") ? o.path("revive_after").asLong() : 0);
        b.reviveRate(o.has("revive_rate") ? o.path("revive_rate").asDouble() : DEFAULT_REVIVE_RATE);
        b.auxKCoef(o.path("auxk_coef").asDouble());
        b.kAux(o.path("k_aux").asInt());
        b.l1Coef(o.path("l1_coef").asDouble());
        // runs saved before the relief existed trained without it (as their effective values say:
        // Trainer.pinRecordedAutoValues)
        b.l1Relief(o.path("l1_relief").asDouble(-1));
        // runs saved before lazy Adam existed stepped every latent
        b.lazyAdam(flagOrFalse(o, "lazy_adam"));
        // runs saved before duplicate resampling existed did not resample
        b.dedupEvery(o.path("dedup_every").asLong(0));
        // runs saved before the race existed did not race
        b.lrRace(flagOrFalse(o, "lr_race"));
        b.lrRaced(o.path("lr_raced").isNumber() ? o.path("lr_raced").asDouble() : Double.NaN);
        b.l0Coef(o.path("l0_coef").isNull() ? Double.NaN : o.path("l0_coef").asDouble());
        b.sparsityWarmup(o.path("sparsity_warmup").asDouble(-1));
        b.bandwidth(o.path("bandwidth").asDouble());
        b.initThreshold(o.path("init_threshold").asDouble());
        b.thresholdLr(o.path("threshold_lr").asDouble());
        List<Integer> pre = new ArrayList<>();
        o.path("prefixes").forEach(n -> pre.add(n.asInt()));
        b.prefixes(pre);
        b.evalRows(o.path("eval_rows").asLong());
        b.bufferBytes(o.path("buffer_bytes").asLong());
        b.badRows(BadRowPolicy.fromCliName(o.path("bad_rows").asText()));
        b.device(Device.fromCliName(o.path("device").asText()));
        b.threads(o.path("threads").asInt());
        b.logEvery(o.path("log_every").asInt());
        b.maxNormRatio(o.path("max_norm_ratio").asDouble());
        b.normalizeActivations(o.path("normalize_activations").asBoolean());
        b.checkpointEvery(o.path("checkpoint_every").asLong());
        b.keepCheckpoints(o.path("keep_checkpoints").asInt());
        if (o.hasNonNull("gemm_precision")) {
            b.gemmPrecision(GemmPrecision.fromName(o.path("gemm_precision").asText()));
        }
        // runs saved before the passes counted left it unknown
        b.trainRows(o.path("train_rows").asLong(-1));
        // runs saved before the rate had a ceiling left the width unknown; their learning rate is pinned on resume
        b.dIn(o.path("d_in").asInt(-1));
        return b.build();
    }

    public TrainConfig withArchitecture(Architecture v) {
        return toBuilder().architecture(v).build();
    }

    public TrainConfig withBatchSize(int v) {
        return toBuilder().batchSize(v).build();
    }

    public TrainConfig withTokens(long v) {
        return toBuilder().tokens(v).build();
    }

    public TrainConfig withSeed(long v) {
        return toBuilder().seed(v).build();
    }

    public TrainConfig withLr(double v) {
        return toBuilder().lr(v).build();
    }

    public TrainConfig withWarmupSteps(int v) {
        return toBuilder().warmupSteps(v).build();
    }

    public TrainConfig withDeadAfter(long v) {
        return toBuilder().deadAfter(v).build();
    }

    public TrainConfig withAuxK(double coef, int newKAux) {
        return toBuilder().auxKCoef(coef).kAux(newKAux).build();
    }

    public TrainConfig withEvalRows(long v) {
        return toBuilder().evalRows(v).build();
    }

    public TrainConfig withBufferBytes(long v) {
        return toBuilder().bufferBytes(v).build();
    }

    public TrainConfig withBadRows(BadRowPolicy v) {
        return toBuilder().badRows(v).build();
    }

    public TrainConfig withDevice(Device v, int newThreads) {
        return toBuilder().device(v).threads(newThreads).build();
    }

    public TrainConfig withMaxNormRatio(double v) {
        return toBuilder().maxNormRatio(v).build();
    }

    public TrainConfig withNormalizeActivations(boolean v) {
        return toBuilder().normalizeActivations(v).build();
    }

    public TrainConfig withLogEvery(int v) {
        return toBuilder().logEvery(v).build();
    }

    public TrainConfig withCheckpoints(long every, int keep) {
        return toBuilder().checkpointEvery(every).keepCheckpoints(keep).build();
    }

    /** Mutable builder holding the defaults; {@link #build()} validates. */
    public static final class Builder {
        private Architecture architecture = Architecture.TOPK;
        private int numLatents;
        private int k;
        private int batchSize = DEFAULT_BATCH;
        private long tokens = 10L * DEFAULT_BATCH;
        private long seed;
        private double lr = Double.NaN;
        private int warmupSteps = -1;
        private LrSchedule.Shape lrSchedule = LrSchedule.Shape.LINEAR;
        private double lrDecayStart = -1;
        private double lrFinal;
        private int kStart = -1;
        private double kAnneal = DEFAULT_K_ANNEAL;
        private long deadAfter = -1;
        private long reviveAfter = -1;
        private double reviveRate = DEFAULT_REVIVE_RATE;
        private double auxKCoef = DEFAULT_AUXK_COEF;
        private int kAux = -1;
        private double l1Coef = DEFAULT_L1_COEF;
        private double l1Relief = -1;
        private Boolean lazyAdam;
        private long dedupEvery = -1;
        private Boolean lrRace;
        private double lrRaced = Double.NaN;
        private double l0Coef = Double.NaN;
        private double sparsityWarmup = -1;
        private double bandwidth = 0.05;
        private double initThreshold = 0.01;
        private double thresholdLr = 10;
        private List<Integer> prefixes = List.of();
        private long evalRows = -1;
        private long bufferBytes = -1;
        private BadRowPolicy badRows = BadRowPolicy.SKIP;
        private Device device = Device.CPU;
        private int threads = Math.max(1, Runtime.getRuntime().availableProcessors());
        private int logEvery = -1;
        private double maxNormRatio;
        private boolean normalizeActivations;
        private long checkpointEvery = -1;
        private int keepCheckpoints = 2;
        private GemmPrecision gemmPrecision = GemmPrecision.BF16;
        private long trainRows = -1;
        private int dIn = -1;

        public Builder() {
        }

        Builder(TrainConfig c) {
            architecture = c.architecture;
            numLatents = c.numLatents;
            k = c.k;
            batchSize = c.batchSize;
            tokens = c.tokens;
            seed = c.seed;
            lr = c.lr;
            warmupSteps = c.warmupSteps;
            lrSchedule = c.lrSchedule;
            lrDecayStart = c.lrDecayStart;
            lrFinal = c.lrFinal;
            kStart = c.kStart;
            kAnneal = c.kAnneal;
            deadAfter = c.deadAfter;
            reviveAfter = c.reviveAfter;
            reviveRate = c.reviveRate;
            auxKCoef = c.auxKCoef;
            kAux = c.kAux;
            l1Coef = c.l1Coef;
            l1Relief = c.l1Relief;
            lazyAdam = c.lazyAdam;
            dedupEvery = c.dedupEvery;
            lrRace = c.lrRace;
            lrRaced = c.lrRaced;
            l0Coef = c.l0Coef;
            sparsityWarmup = c.sparsityWarmup;
            bandwidth = c.bandwidth;
            initThreshold = c.initThreshold;
            thresholdLr = c.thresholdLr;
            prefixes = c.prefixes;
            evalRows = c.evalRows;
            bufferBytes = c.bufferBytes;
            badRows = c.badRows;
            device = c.device;
            threads = c.threads;
            logEvery = c.logEvery;
            maxNormRatio = c.maxNormRatio;
            normalizeActivations = c.normalizeActivations;
            checkpointEvery = c.checkpointEvery;
            keepCheckpoints = c.keepCheckpoints;
            gemmPrecision = c.gemmPrecision;
            trainRows = c.trainRows;
            dIn = c.dIn;
        }

        public TrainConfig build() {
            return new TrainConfig(architecture, numLatents, k, batchSize, tokens, seed, lr, warmupSteps, lrSchedule, lrDecayStart,
                    lrFinal, kStart, kAnneal, deadAfter, reviveAfter, reviveRate, auxKCoef, kAux, l1Coef, l1Relief, lazyAdam, dedupEvery, lrRace, lrRaced, l0Coef, sparsityWarmup, bandwidth, initThreshold,
                    thresholdLr, prefixes, evalRows, bufferBytes, badRows, device, threads, logEvery, maxNormRatio, normalizeActivations,
                    checkpointEvery, keepCheckpoints, gemmPrecision, trainRows, dIn);
        }

        public Builder architecture(Architecture v) {
            architecture = v;
            return this;
        }

        public Builder numLatents(int v) {
            numLatents = v;
            return this;
        }

        public Builder k(int v) {
            k = v;
            return this;
        }

        public Builder batchSize(int v) {
            batchSize = v;
            return this;
        }

        public Builder tokens(long v) {
            tokens = v;
            return this;
        }

        public Builder seed(long v) {
            seed = v;
            return this;
        }

        public Builder lr(double v) {
            lr = v;
            return this;
        }

        public Builder warmupSteps(int v) {
            warmupSteps = v;
            return this;
        }

        public Builder lrSchedule(LrSchedule.Shape v) {
            lrSchedule = v;
            return this;
        }

        public Builder lrDecayStart(double v) {
            lrDecayStart = v;
            return this;
        }

        public Builder lrFinal(double v) {
            lrFinal = v;
            return this;
        }

        public Builder kStart(int v) {
            kStart = v;
            return this;
        }

        public Builder kAnneal(double v) {
            kAnneal = v;
            return this;
        }

        public Builder deadAfter(long v) {
            deadAfter = v;
            return this;
        }

        public Builder reviveAfter(long v) {
            reviveAfter = v;
            return this;
        }

        public Builder reviveRate(double v) {
            reviveRate = v;
            return this;
        }

        public Builder auxKCoef(double v) {
            auxKCoef = v;
            return this;
        }

        public Builder kAux(int v) {
            kAux = v;
            return this;
        }

        public Builder l1Coef(double v) {
            l1Coef = v;
            return this;
        }

        public Builder l1Relief(double v) {
            l1Relief = v;
            return this;
        }

        /** -1: the default ({@link TrainConfig#effectiveDedupEvery}); 0: off. */
        public Builder dedupEvery(long v) {
            dedupEvery = v;
            return this;
        }

        public Builder lrRace(Boolean v) {
            lrRace = v;
            return this;
        }

        public Builder lrRaced(double v) {
            lrRaced = v;
            return this;
        }

        /** null: the architecture's default ({@link TrainConfig#effectiveLazyAdam}). */
        public Builder lazyAdam(Boolean v) {
            lazyAdam = v;
            return this;
        }

        public Builder l0Coef(double v) {
            l0Coef = v;
            return this;
        }

        public Builder sparsityWarmup(double v) {
            sparsityWarmup = v;
            return this;
        }

        public Builder bandwidth(double v) {
            bandwidth = v;
            return this;
        }

        public Builder initThreshold(double v) {
            initThreshold = v;
            return this;
        }

        public Builder thresholdLr(double v) {
            thresholdLr = v;
            return this;
        }

        public Builder prefixes(List<Integer> v) {
            prefixes = v;
            return this;
        }

        public Builder evalRows(long v) {
            evalRows = v;
            return this;
        }

        public Builder bufferBytes(long v) {
            bufferBytes = v;
            return this;
        }

        public Builder badRows(BadRowPolicy v) {
            badRows = v;
            return this;
        }

        public Builder device(Device v) {
            device = v;
            return this;
        }

        public Builder threads(int v) {
            threads = v;
            return this;
        }

        public Builder logEvery(int v) {
            logEvery = v;
            return this;
        }

        public Builder maxNormRatio(double v) {
            maxNormRatio = v;
            return this;
        }

        public Builder normalizeActivations(boolean v) {
            normalizeActivations = v;
            return this;
        }

        public Builder checkpointEvery(long v) {
            checkpointEvery = v;
            return this;
        }

        public Builder gemmPrecision(GemmPrecision v) {
            gemmPrecision = v;
            return this;
        }

        public Builder trainRows(long v) {
            trainRows = v;
            return this;
        }

        public Builder dIn(int v) {
            dIn = v;
            return this;
        }

        public Builder keepCheckpoints(int v) {
            keepCheckpoints = v;
            return this;
        }
    }
}
