package org.saeforge.cli;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.Callable;
import org.saeforge.core.SaeException;
import org.saeforge.core.data.ActivationSource;
import org.saeforge.core.data.ActivationSources;
import org.saeforge.core.data.BadRowPolicy;
import org.saeforge.core.io.Json;
import org.saeforge.core.kernels.cuda.GemmPrecision;
import org.saeforge.core.model.Architecture;
import org.saeforge.core.tensor.FloatMatrix;
import org.saeforge.train.LrSchedule;
import org.saeforge.train.TrainConfig;
import org.saeforge.train.TrainResult;
import org.saeforge.train.Trainer;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code sae train}: trains one SAE, or a sweep of several in one pass over the data, and exports them; the final
 * metrics are the last line of stdout. Every option can also come from {@code --config FILE} (flags override it); the
 * resolved settings are saved as {@code DIR/config.json}, which {@code sae resume} reads.
 */
@Command(name = "train", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Train sparse autoencoders (topk, batchtopk, jumprelu, relu, matryoshka) on cached activations.",
                "Comma lists in --architecture, --num-latents, --k, --lr, --l1-coef and --l0-coef train every combination in one pass "
                        + "over the data (a sweep), each SAE in its own subdirectory.",
                "Progress goes to stderr; the held-out metrics are printed as one JSON object on the last line of stdout.",
                "Writes DIR/config.json, DIR/metrics.jsonl, DIR/run.json, DIR/saelens/ and DIR/checkpoints/step-N/."})
final class TrainCommand implements Callable<Integer> {
    /** The resolved settings written into the run directory. */
    static final String CONFIG_FILE = "config.json";

    private final Io io;

    TrainCommand(Io io) {
        this.io = io;
    }

    @Spec
    CommandLine.Model.CommandSpec spec;

    /** Set by {@code sae resume}: continue from the newest checkpoint instead of starting. */
    boolean resume;

    @Option(names = "--config", paramLabel = "FILE",
            description = "JSON file of settings named as the options without '--' (e.g. {\"num-latents\": [8192, 16384], \"k\": 32}); "
                    + "options given on the command line override it; relative paths are resolved against the file's folder.")
    Path configFile;

    @Mixin
    DataOptions dataOptions;

    @Option(names = "--architecture", paramLabel = "ARCH", split = ",", defaultValue = "topk",
            description = "topk (default), batchtopk, jumprelu, relu or matryoshka; a comma list sweeps them.")
    List<String> architectures;

    // --num-latents, --tokens and --out may come from --config: checked in call(), not at parse time.
    @Option(names = "--num-latents", paramLabel = "N", split = ",", description = "Dictionary size; a comma list sweeps.")
    List<String> numLatents;

    @Option(names = "--k", paramLabel = "K", split = ",",
            description = "Active latents per row (topk; mean per row for batchtopk/matryoshka; target L0 for jumprelu; not for relu).")
    List<String> k;

    @Option(names = "--batch-size", paramLabel = "B", defaultValue = "4096", description = "Rows per step (default ${DEFAULT-VALUE}).")
    int batchSize;

    @Option(names = "--tokens", paramLabel = "T", converter = Counts.class,
            description = "Training rows in total, e.g. 3M; steps = T / batch size.")
    Long tokens;

    @Option(names = "--out", paramLabel = "DIR", description = "Run directory to write.")
    Path out;

    @Option(names = "--seed", defaultValue = "0", description = "Seed for initialisation, split and data order (default ${DEFAULT-VALUE}).")
    long seed;

    @Mixin
    DeviceOptions deviceOptions;

    @Option(names = "--gemm-precision", paramLabel = "bf16|tf32|fp32", defaultValue = "bf16",
            description = "GPU only: operand precision of the encoder product (default ${DEFAULT-VALUE}, as sparsify on CUDA; "
                    + "accumulation is fp32 in every case). The CPU computes in fp32.")
    String gemmPrecision;

    @Option(names = "--truth", paramLabel = "FILE", description = "Ground-truth dictionary .npy [features, d_in] (from sae synth) to measure recovery.")
    Path truth;

    @Option(names = "--lr", paramLabel = "LR", split = ",",
            description = "Adam learning rate; a comma list sweeps (default: 2e-4 / sqrt(num-latents / 16384) x min(16, max(1, m x sqrt(20000 / steps))), "
                    + "m = 1.5 for topk (boost and cap x (num-latents / 4096)^0.25 above 4096 latents), 2.25 for batchtopk and matryoshka "
                    + "(cap 32 instead of 16), 1 for jumprelu, whose rate is then tripled up to 20 passes over the training rows, doubled from 40 "
                    + "and falls by sqrt(40 / passes) beyond 40 passes, never below the first factor; "
                    + "relu: 2e-4 / sqrt(num-latents / 16384) x max(1, min(24 x (num-latents / 4096)^0.25, max(1, (9000 / steps)^1.2)) "
                    + "x sqrt(5 / l1-coef)), the coefficient held to [5, 10]; every default at most 6e-3 x (768 / d_in)^0.75 (x2 for jumprelu), "
                    + "never below the first factor; "
                    + "see docs/training.md).")
    List<String> lr;

    @Option(names = "--warmup-steps", paramLabel = "N", description = "Linear warm-up steps (default min(1000, 5%% of steps); relu: at least min(100, a third of the steps)).")
    Integer warmupSteps;

    @Option(names = "--lr-schedule", paramLabel = "constant|linear|cosine", defaultValue = "linear",
            description = "Learning-rate decay after warm-up (default ${DEFAULT-VALUE}).")
    String lrSchedule;

    @Option(names = "--lr-decay-start", paramLabel = "F", description = "Fraction of the run where the decay starts (default: right after warm-up).")
    Double lrDecayStart;

    @Option(names = "--lr-final", paramLabel = "F", defaultValue = "0", description = "Final learning rate as a fraction of the peak (default ${DEFAULT-VALUE}).")
    double lrFinal;

    @Option(names = "--k-start", paramLabel = "K",
            description = "Anneal k linearly from this larger value down to --k (topk, batchtopk, matryoshka); 0 turns it off (default: 2 x k for topk, off for the others).")
    Integer kStart;

    @Option(names = "--k-anneal", paramLabel = "F", defaultValue = "0.8", description = "Fraction of the run over which k anneals (default ${DEFAULT-VALUE}).")
    double kAnneal;

    @Option(names = "--dead-after", paramLabel = "ROWS", converter = Counts.class,
            description = "A latent not firing for this many rows is dead and trained by AuxK (default: a tenth of the run, between 20k and 10M).")
    Long deadAfter;

    @Option(names = "--revive-after", paramLabel = "ROWS", converter = Counts.class,
            description = "Revive a latent without a positive activation for more than this many rows (when that is shorter than a "
                    + "batch: with fewer positive activations in the batch than the batch holds such windows) until it fires again: raise "
                    + "its encoder bias (capped at 0.1 x the mean activation), remove the part of its encoder row that points against "
                    + "the batch mean, grow a short row and, for jumprelu, lower its threshold; all but relu; 0 turns it off "
                    + "(default: 8 x num-latents / k, with k = 32 for jumprelu without a target L0; for jumprelu also x passes / 20 beyond 20 "
                    + "passes over the training rows).")
    Long reviveAfter;

    @Option(names = "--revive-rate", paramLabel = "R", defaultValue = "0.02",
            description = "That bias step per training step as a fraction of the mean positive activation, and the fraction by which a "
                    + "jumprelu threshold falls, fading with sqrt(lr / peak lr) (default ${DEFAULT-VALUE}).")
    double reviveRate;

    @Option(names = "--auxk-coef", paramLabel = "C", defaultValue = "0.03125", description = "AuxK loss coefficient; 0 disables it (default 1/32).")
    double auxKCoef;

    @Option(names = "--k-aux", paramLabel = "K", description = "Dead latents AuxK selects per row (default d_in / 2).")
    Integer kAux;

    @Option(names = "--l1-coef", paramLabel = "C", split = ",", description = "relu: L1 coefficient (default 5, in units where E||x||^2 = d_in); a comma list sweeps.")
    List<String> l1Coef;

    @Option(names = "--l1-relief", paramLabel = "R",
            description = "relu: a latent firing on fewer than this fraction of a batch's rows pays only its share fired / (R x batch) of the "
                    + "L1 penalty in that step, so that the penalty does not silence it for good (default 1/1024 and at least 4 rows: "
                    + "4 rows at batch 4096, 1/256 at batch 1024; 0 turns it off).")
    Double l1Relief;

    @Option(names = "--lazy-adam", negatable = true,
            description = "relu: a latent that fires on no row of the batch keeps its weights and Adam moments in that step, instead of "
                    + "moving on its momentum (default: on for relu).")
    Boolean lazyAdam;

    @Option(names = "--lr-race", negatable = true,
            description = "topk with the default learning rate, one SAE on the CPU: train 1, 1.5 and 2.25 times the default rate side by "
                    + "side over the first 30%% of the run and go on with the one whose batch FVU, projected on from its fall over the last 10%% "
                    + "of that, is lowest (default: on there while the default rate is above sparsify's, below 45,000 steps up to 4096 latents; about 1.6x "
                    + "the compute; --no-lr-race trains at the default rate alone).")
    Boolean lrRace;

    @Option(names = "--dedup-every", paramLabel = "ROWS", converter = Counts.class,
            description = "topk: rows between checks for duplicate latents (decoder cosine above 0.5, more than half of their activation on "
                    + "the same rows); of each pair the weaker restarts on the residual of a high-error row, up to 3/4 of the run and 2.5M "
                    + "rows (default: off; measured at 102400; the CPU only).")
    Long dedupEvery;

    @Option(names = "--l0-coef", paramLabel = "C", split = ",",
            description = "jumprelu: L0 penalty coefficient (default 1 with --k as target L0; without --k the penalty is C x L0); a comma list sweeps.")
    List<String> l0Coef;

    @Option(names = "--sparsity-warmup", paramLabel = "F",
            description = "Fraction of the run over which the L1/L0 coefficient rises from 0 (default for relu: the full coefficient over the last "
                    + TrainConfig.RELU_FULL_PENALTY_ROWS / 1000 + "k rows, or from " + TrainConfig.RELU_SPARSITY_WARMUP + " of shorter runs, i.e. max("
                    + TrainConfig.RELU_SPARSITY_WARMUP + ", 1 - " + TrainConfig.RELU_FULL_PENALTY_ROWS / 1000 + "k / tokens); "
                    + TrainConfig.SPARSITY_WARMUP + " for jumprelu).")
    Double sparsityWarmup;

    @Option(names = "--bandwidth", paramLabel = "E", defaultValue = "0.05", description = "jumprelu: straight-through kernel bandwidth (default ${DEFAULT-VALUE}).")
    double bandwidth;

    @Option(names = "--init-threshold", paramLabel = "T", defaultValue = "0.01", description = "jumprelu: initial threshold (default ${DEFAULT-VALUE}).")
    double initThreshold;

    @Option(names = "--threshold-lr", paramLabel = "X", defaultValue = "10",
            description = "jumprelu: learning rate of the log-thresholds as a multiple of --lr (default ${DEFAULT-VALUE}).")
    double thresholdLr;

    @Option(names = "--prefixes", paramLabel = "SIZES", split = ",",
            description = "matryoshka: nested prefix sizes below num-latents, ascending (default num-latents/16,/8,/4,/2).")
    List<Integer> prefixes;

    @Option(names = "--eval-rows", paramLabel = "N", converter = Counts.class,
            description = "Held-out rows (default 5%% of the data up to 10,000, or 1%% where that is more, at most 50,000).")
    Long evalRows;

    @Option(names = "--shuffle-buffer-mb", paramLabel = "MB", description = "Shuffle buffer memory (default: 2^20 rows or 1024 MB, whichever is smaller).")
    Long shuffleBufferMb;

    @Option(names = "--on-bad-rows", paramLabel = "skip|fail", defaultValue = "skip",
            description = "Rows holding NaN or infinity: skip them (default, counted and reported) or fail.")
    String onBadRows;

    @Option(names = "--max-norm-ratio", paramLabel = "R",
            description = "Drop rows whose norm exceeds R x the median row norm of a sample (ViT high-norm tokens, BOS-like rows); "
                    + "counted and reported. Default: keep all.")
    Double maxNormRatio;

    @Option(names = "--normalize-activations", negatable = true,
            description = "Train on rows scaled so their mean squared norm is d_in (scale estimated from a sample) and fold the scale "
                    + "into the exported weights (the export still reads raw activations). Default: on for jumprelu and relu, off otherwise.")
    Boolean normalizeActivations;

    @Option(names = "--log-every", paramLabel = "STEPS", description = "Steps between metrics.jsonl lines (default: about 100 per run).")
    Integer logEvery;

    @Option(names = "--checkpoint-every", paramLabel = "ROWS", converter = Counts.class,
            description = "Rows between checkpoints in DIR/checkpoints (default: every 10%% of the run; 0: only at the end).")
    Long checkpointEvery;

    @Option(names = "--keep-checkpoints", paramLabel = "M", defaultValue = "2", description = "Checkpoints kept, newest (default ${DEFAULT-VALUE}).")
    int keepCheckpoints;

    @Option(names = "--model-name", paramLabel = "NAME", description = "Model the activations came from (stored in the export metadata).")
    String modelName;

    @Option(names = "--hook-name", paramLabel = "NAME", description = "Hook point of the activations (stored in the export metadata).")
    String hookName;

    @Override
    public Integer call() {
        if (configFile != null) {
            TrainCommand merged = ConfigFile.apply(configFile, spec, new TrainCommand(io));
            merged.resume = resume;
            if (merged.numLatents != null) {
                try {
                    merged.buildConfigs();
                } catch (SaeException e) {
                    throw new SaeException(configFile + " with the command line: " + e.getMessage());
                }
            }
            return merged.call();
        }
        for (String[] req : new String[][] {{"--num-latents", numLatents == null ? null : "ok"}, {"--tokens", tokens == null ? null : "ok"},
                {"--out", out == null ? null : "ok"}}) {
            if (req[1] == null) {
                throw new SaeException("missing required option '" + req[0] + "' (on the command line or in --config)");
            }
        }
        List<TrainConfig> configs = buildConfigs();
        FloatMatrix truthMatrix = truth == null ? null : ActivationSources.readMatrix(truth);
        Map<String, Object> meta = new TreeMap<>();
        if (modelName != null) {
            meta.put("model_name", modelName);
        }
        if (hookName != null) {
            meta.put("hook_name", hookName);
        }
        try (ActivationSource source = dataOptions.open()) {
            Trainer trainer = new Trainer(configs, new ProgressReporter(io.err()));
            if (!resume) {
                ConfigFile.save(spec, out.resolve(CONFIG_FILE));
            }
            List<TrainResult> results = resume ? trainer.resume(source, out, truthMatrix, meta) : trainer.trainAll(source, out, truthMatrix, meta);
            if (results.size() == 1) {
                io.err().println("model exported to " + out.resolve(Trainer.SAELENS_DIR) + "; metrics log " + out.resolve(Trainer.METRICS_FILE));
                io.out().println(Json.compact(results.get(0).toJson()));
            } else {
                ObjectNode all = Json.object();
                ArrayNode saes = all.putArray("saes");
                for (int i = 0; i < results.size(); i++) {
                    ObjectNode o = saes.addObject();
                    o.put("name", trainer.names().get(i));
                    o.setAll(results.get(i).toJson());
                }
                io.err().println(results.size() + " SAEs exported to " + out + "/<name>/saelens; summary " + out.resolve(Trainer.SWEEP_FILE));
                io.out().println(Json.compact(all));
            }
        }
        return 0;
    }

    /** One configuration per combination of the swept options. */
    List<TrainConfig> buildConfigs() {
        List<Architecture> archs = new ArrayList<>();
        for (String a : architectures) {
            archs.add(Architecture.fromCliName(a.trim()));
        }
        boolean normalize = normalizeActivations != null ? normalizeActivations
                : archs.stream().anyMatch(a -> a == Architecture.JUMPRELU || a == Architecture.RELU);
        TrainConfig.Builder base = new TrainConfig.Builder()
                .batchSize(batchSize)
                .tokens(tokens)
                .seed(seed)
                .lrSchedule(LrSchedule.Shape.fromCliName(lrSchedule))
                .lrFinal(lrFinal)
                .kAnneal(kAnneal)
                .auxKCoef(auxKCoef)
                .kAux(kAux == null ? -1 : kAux)
                .bandwidth(bandwidth)
                .initThreshold(initThreshold)
                .thresholdLr(thresholdLr)
                .reviveRate(reviveRate)
                .badRows(BadRowPolicy.fromCliName(onBadRows))
                .device(deviceOptions.device())
                .threads(deviceOptions.threads())
                .gemmPrecision(GemmPrecision.fromName(gemmPrecision))
                .normalizeActivations(normalize)
                .keepCheckpoints(keepCheckpoints);
        if (warmupSteps != null) {
            base.warmupSteps(warmupSteps);
        }
        if (lrDecayStart != null) {
            base.lrDecayStart(lrDecayStart);
        }
        if (sparsityWarmup != null) {
            base.sparsityWarmup(sparsityWarmup);
        }
        if (l1Relief != null) {
            if (!archs.contains(Architecture.RELU)) {
                throw new SaeException("--l1-relief applies to --architecture relu only");
            }
            base.l1Relief(l1Relief);
        }
        if (dedupEvery != null) {
            // TrainConfig refuses it for the other architectures and the GPU
            base.dedupEvery(dedupEvery);
        }
        if (lrRace != null) {
            // TrainConfig refuses it with --lr, for the other architectures and the GPU; the Trainer for a sweep
            base.lrRace(lrRace);
        }
        if (lazyAdam != null) {
            // TrainConfig refuses it for the other architectures
            base.lazyAdam(lazyAdam);
        }
        if (deadAfter != null) {
            base.deadAfter(deadAfter);
        }
        if (reviveAfter != null) {
            base.reviveAfter(reviveAfter);
        }
        if (evalRows != null) {
            base.evalRows(evalRows);
        }
        if (shuffleBufferMb != null) {
            base.bufferBytes(shuffleBufferMb << 20);
        }
        if (logEvery != null) {
            base.logEvery(logEvery);
        }
        if (maxNormRatio != null) {
            base.maxNormRatio(maxNormRatio);
        }
        if (checkpointEvery != null) {
            base.checkpointEvery(checkpointEvery);
        }
        if (prefixes != null) {
            base.prefixes(prefixes);
        }
        if (kStart != null) {
            base.kStart(kStart);
        }
        List<Integer> sizes = ints(numLatents, "--num-latents");
        List<Integer> ks = k == null ? List.of() : ints(k, "--k");
        List<Double> lrs = lr == null ? List.of(Double.NaN) : doubles(lr, "--lr");
        List<Double> l1s = l1Coef == null ? List.of(TrainConfig.DEFAULT_L1_COEF) : doubles(l1Coef, "--l1-coef");
        List<Double> l0s = l0Coef == null ? List.of(Double.NaN) : doubles(l0Coef, "--l0-coef");
        Set<TrainConfig> out = new LinkedHashSet<>();
        for (Architecture a : archs) {
            List<Integer> archKs = ks;
            if (a == Architecture.RELU) {
                if (!ks.isEmpty() && archs.size() == 1) {
                    throw new SaeException("--k does not apply to --architecture relu (its sparsity comes from --l1-coef)");
                }
                archKs = List.of(0);
            } else if (ks.isEmpty()) {
                if (a != Architecture.JUMPRELU) {
                    throw new SaeException("--k is required for --architecture " + a.cliName());
                }
                archKs = List.of(0);
            }
            for (int n : sizes) {
                for (int kk : archKs) {
                    for (double l : lrs) {
                        for (double l1 : a == Architecture.RELU ? l1s : List.of(TrainConfig.DEFAULT_L1_COEF)) {
                            for (double l0 : a == Architecture.JUMPRELU ? l0s : List.of(Double.NaN)) {
                                out.add(base.architecture(a).numLatents(n).k(kk).lr(l).l1Coef(l1).l0Coef(l0).build());
                            }
                        }
                    }
                }
            }
        }
        return new ArrayList<>(out);
    }

    private static List<Integer> ints(List<String> values, String flag) {
        List<Integer> out = new ArrayList<>();
        for (String v : values) {
            long n;
            try {
                n = Counts.parse(v);
            } catch (SaeException e) {
                throw new SaeException(flag + ": " + e.getMessage());
            }
            if (n > Integer.MAX_VALUE) {
                throw new SaeException(flag + " " + v + " is too large");
            }
            out.add((int) n);
        }
        return out;
    }

    private static List<Double> doubles(List<String> values, String flag) {
        List<Double> out = new ArrayList<>();
        for (String v : values) {
            try {
                out.add(Double.parseDouble(v.trim()));
            } catch (NumberFormatException e) {
                throw new SaeException(flag + ": '" + v + "' is not a number");
            }
        }
        return out;
    }
}
