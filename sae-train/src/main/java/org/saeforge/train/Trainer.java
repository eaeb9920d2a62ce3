package org.saeforge.train;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.BufferedWriter;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import org.saeforge.core.SaeException;
import org.saeforge.core.data.ActivationSource;
import org.saeforge.core.data.BatchStream;
import org.saeforge.core.data.HeldOutSplit;
import org.saeforge.core.data.NormStats;
import org.saeforge.core.io.AtomicFiles;
import org.saeforge.core.io.Json;
import org.saeforge.core.io.SaeLensFormat;
import org.saeforge.core.kernels.Device;
import org.saeforge.core.kernels.Kernels;
import org.saeforge.core.kernels.KernelsFactory;
import org.saeforge.core.kernels.cpu.CpuKernels;
import org.saeforge.core.model.Architecture;
import org.saeforge.core.model.SparseAutoencoder;
import org.saeforge.core.tensor.FloatMatrix;

/**
 * Trains one SAE, or several at once (a sweep), on a source: held-out split, shuffled batches read once and given to
 * every SAE, per-architecture objectives, Adam with a learning-rate schedule, checkpoints, then a held-out evaluation
 * and the SAELens export of each SAE.
 *
 * <p>Output layout with an output directory DIR: one SAE writes {@code DIR/metrics.jsonl}, {@code DIR/run.json} and
 * {@code DIR/saelens/}; a sweep writes the same into {@code DIR/<name>/} per SAE plus {@code DIR/sweep.json}.
 * Checkpoints go to {@code DIR/checkpoints/step-N/} (see {@link #resume}).
 */
public final class Trainer {
    /** Directory name of the SAELens export inside a run directory. */
    public static final String SAELENS_DIR = "saelens";
    public static final String METRICS_FILE = "metrics.jsonl";
    public static final String RUN_FILE = "run.json";
    public static final String SWEEP_FILE = "sweep.json";
    public static final String CHECKPOINTS_DIR = Checkpoint.DIR;
    /** Where a learning-rate race keeps its racers' metrics logs ({@code lr<rate>/metrics.jsonl}) and its result. */
    public static final String RACE_DIR = "lr-race";
    public static final String RACE_FILE = "race.json";

    private final List<TrainConfig> configs;
    private final List<String> names;
    private final TrainListener listener;
    private DeviceLoop.Backend deviceBackend = DeviceLoop.CUDA;

    public Trainer(TrainConfig config, TrainListener listener) {
        this(List.of(config), listener);
    }

    /**
     * Several SAEs trained in one pass over the data. They must agree on the settings of the shared data stream and
     * loop: batch size, tokens, seed, held-out rows, buffer, bad-row policy, device, threads, outlier limit,
     * normalization, logging and checkpoint cadence.
     */
    public Trainer(List<TrainConfig> configs, TrainListener listener) {
        if (configs.isEmpty()) {
            throw new SaeException("nothing to train: no configuration");
        }
        TrainConfig a = configs.get(0);
        for (TrainConfig c : configs) {
            if (c.batchSize() != a.batchSize() || c.tokens() != a.tokens() || c.seed() != a.seed() || c.evalRows() != a.evalRows()
                    || c.bufferBytes() != a.bufferBytes() || c.badRows() != a.badRows() || c.device() != a.device()
                    || c.threads() != a.threads() || c.maxNormRatio() != a.maxNormRatio()
                    || c.normalizeActivations() != a.normalizeActivations() || c.logEvery() != a.logEvery()
                    || c.checkpointEvery() != a.checkpointEvery() || c.keepCheckpoints() != a.keepCheckpoints()
                    || c.gemmPrecision() != a.gemmPrecision()) {
                throw new SaeException("the SAEs of a sweep must share batch size, tokens, seed, eval rows, buffer, bad-row policy, "
                        + "device, threads, GEMM precision, norm settings, log and checkpoint cadence");
            }
        }
        if (configs.size() > 1 && configs.stream().anyMatch(c -> Boolean.TRUE.equals(c.lrRace()))) {
            throw new SaeException("--lr-race races the learning rate of one SAE; a sweep trains each at its own rate (leave --lr-race out)");
        }
        this.configs = List.copyOf(configs);
        this.names = memberNames(configs);
        this.listener = listener == null ? new TrainListener() { } : listener;
    }

    /** Trains on {@code backend} whenever it applies to the kernels (tests: the host emulation of the device loop). */
    Trainer withDeviceBackend(DeviceLoop.Backend backend) {
        this.deviceBackend = backend;
        return this;
    }

    /**
     * Names of the SAEs of a sweep, used as their subdirectories: architecture, size and k, plus whichever of lr,
     * l1/l0 coefficient and k-start differ between them. A single SAE has the empty name (it writes into DIR itself).
     */
    public static List<String> memberNames(List<TrainConfig> configs) {
        if (configs.size() == 1) {
            return List.of("");
        }
        boolean lr = configs.stream().map(TrainConfig::lr).distinct().count() > 1;
        boolean l1 = configs.stream().map(TrainConfig::l1Coef).distinct().count() > 1;
        boolean l0 = configs.stream().map(TrainConfig::l0Coef).distinct().count() > 1;
        boolean kStart = configs.stream().map(TrainConfig::kStart).distinct().count() > 1;
        List<String> out = new ArrayList<>();
        Set<String> seen = new HashSet<>();
        for (TrainConfig c : configs) {
            StringBuilder s = new StringBuilder(c.architecture().cliName()).append("-n").append(c.numLatents());
            if (c.k() > 0) {
                s.append("-k").append(c.k());
            }
            if (lr) {
                s.append("-lr").append(Double.isNaN(c.lr()) ? "auto" : shortNumber(c.lr()));
            }
            if (l1) {
                s.append("-l1c").append(shortNumber(c.l1Coef()));
            }
            if (l0) {
                s.append("-l0c").append(Double.isNaN(c.l0Coef()) ? "auto" : shortNumber(c.l0Coef()));
            }
            if (kStart) {
                s.append("-ks").append(c.kStart());
            }
            String name = s.toString();
            for (int i = 2; !seen.add(name); i++) {
                name = s + "-" + i;
            }
            out.add(name);
        }
        return out;
    }

    private static String shortNumber(double v) {
        return String.format(Locale.ROOT, "%.3g", v).replace("e-0", "e-").replace("e+0", "e");
    }

    /** Names of this trainer's SAEs (see {@link #memberNames}). */
    public List<String> names() {
        return names;
    }

    /** Where a SAE of a run writes its files. */
    public static Path memberDir(Path outDir, String name) {
        return name.isEmpty() ? outDir : outDir.resolve(name);
    }

    /**
     * Trains the first (or only) SAE.
     *
     * @param outDir   run directory (created), or null to write nothing
     * @param truth    ground-truth dictionary [features, dIn] for recovery metrics, or null
     * @param metadata provenance stored in the export (model_name, hook_name, dataset_path...)
     */
    public TrainResult train(ActivationSource source, Path outDir, FloatMatrix truth, Map<String, Object> metadata) {
        return trainAll(source, outDir, truth, metadata).get(0);
    }

    /** Trains every SAE in one pass over the data; results in configuration order. */
    public List<TrainResult> trainAll(ActivationSource source, Path outDir, FloatMatrix truth, Map<String, Object> metadata) {
        return run(source, outDir, truth, metadata, null);
    }

    /**
     * Continues the run in {@code outDir} from its newest checkpoint, exactly: the weights, optimiser state, dead-latent
     * counters, thresholds and data position are restored (the batches already used are replayed from the seed), so
     * the result is bit-identical to an uninterrupted run with the same configuration on the same backend and thread
     * count. The configurations must be those the run was started with.
     */
    public List<TrainResult> resume(ActivationSource source, Path outDir, FloatMatrix truth, Map<String, Object> metadata) {
        Path latest = Checkpoint.latest(outDir);
        if (latest == null) {
            boolean raced = Files.isDirectory(outDir.resolve(RACE_DIR)) && !Files.exists(outDir.resolve(RACE_DIR).resolve(RACE_FILE));
            throw new SaeException(outDir + ": no checkpoint to resume from (expected " + outDir.resolve(Checkpoint.DIR) + "/step-N/)"
                    + (raced ? "; the run stopped inside its learning-rate race, which writes none: start it again with sae train" : ""));
        }
        return run(source, outDir, truth, metadata, Checkpoint.read(latest));
    }

    private List<TrainResult> run(ActivationSource source, Path outDir, FloatMatrix truth, Map<String, Object> metadata,
                                  Checkpoint.Loaded resume) {
        TrainConfig shared = configs.get(0);
        int dIn = source.dIn();
        if (truth != null && truth.cols() != dIn) {
            throw new SaeException("--truth has width " + truth.cols() + " but the data has d_in " + dIn);
        }
        if (resume != null) {
            requireSameData(resume, source);
        }
        long evalRows = shared.evalRows() >= 0 ? shared.evalRows() : defaultEvalRows(resume, source.numRows());
        HeldOutSplit split = HeldOutSplit.create(source.numRows(), evalRows, shared.seed());
        // the training rows set the passes over the data, which some defaults scale with; the row width bounds the default rate
        List<TrainConfig> known = configs.stream().map(c -> c.withTrainRowsIfUnknown(split.trainRows()).withDInIfUnknown(dIn)).toList();
        // a resumed run goes on with the values its checkpoint recorded for what the configurations leave to defaults
        List<TrainConfig> runConfigs = resume == null ? known : checkResumable(resume, known);
        if (split.trainRows() < shared.batchSize()) {
            throw new SaeException(source.path() + ": " + split.trainRows() + " training rows is fewer than one batch (--batch-size "
                    + shared.batchSize() + ")");
        }
        long bufferBytes = shared.bufferBytes() > 0 ? shared.bufferBytes() : BatchStream.defaultBufferBytes(dIn);
        Map<String, Object> meta = new TreeMap<>(metadata == null ? Map.of() : metadata);
        meta.putIfAbsent("dataset_path", source.path().toString());

        double maxNorm = Double.POSITIVE_INFINITY;
        float scale = 1f;
        if (resume != null) {
            maxNorm = resume.run().maxNorm();
            scale = resume.run().scale();
        } else if (shared.maxNormRatio() > 0 || shared.normalizeActivations()) {
            NormStats norms = NormStats.sample(source, NormStats.DEFAULT_SAMPLE);
            if (shared.maxNormRatio() > 0) {
                maxNorm = shared.maxNormRatio() * norms.medianNorm();
                listener.onInfo(String.format("--max-norm-ratio %s: dropping rows with norm above %.4g (%s x median %.4g); %d of %d sampled"
                        + " rows are above", shared.maxNormRatio(), maxNorm, shared.maxNormRatio(), norms.medianNorm(),
                        norms.countAbove(maxNorm), norms.rows()));
            }
            if (shared.normalizeActivations()) {
                scale = (float) norms.scaleToDIn(dIn, maxNorm);
                listener.onInfo(String.format("normalizing activations: rows x %.6g (mean squared norm %.4g -> d_in %d); folded into"
                        + " the exported weights", scale, norms.meanSquaredNorm(), dIn));
            }
        }

        // The GPU trains TopK only: "auto" means the CPU for the other architectures.
        boolean gpuTrainsAll = runConfigs.stream().allMatch(c -> TrainConfig.cudaTrains(c.architecture()));
        Device device = shared.device() == Device.AUTO && !gpuTrainsAll ? Device.CPU : shared.device();
        try (Kernels kernels = KernelsFactory.create(device, shared.threads())) {
            boolean onDevice = gpuTrainsAll && deviceBackend.applies(kernels);
            // the GPU loop does not race yet; a sweep trains each SAE at its own rate
            List<TrainConfig> configs = onDevice ? withoutRace(withoutResampling(runConfigs))
                    : runConfigs.size() > 1 ? withoutRace(runConfigs) : runConfigs;
            String backend = kernels.name() + (kernels instanceof CpuKernels c ? "/" + c.gemmName() : "")
                    + (onDevice ? "/" + shared.gemmPrecision().suffix() : "");
            long steps = shared.steps();
            BatchStream.Options options = new BatchStream.Options(bufferBytes, shared.badRows(), maxNorm, scale);
            Loop loop = onDevice
                    ? new DeviceLoop(configs, names, listener).run(deviceBackend, kernels, backend, source, split, options, outDir, meta, resume)
                    : runSteps(configs, kernels, backend, source, split, options, outDir, meta, resume);
            configs = loop.configs();
            listener.onTrainingDone(steps, loop.seconds());
            if (loop.badRows() > 0) {
                listener.onInfo("skipped " + loop.badRows() + " training rows holding NaN or infinity");
            }
            if (loop.normDropped() > 0) {
                listener.onInfo("dropped " + loop.normDropped() + " training rows with norm above the --max-norm-ratio limit");
            }
            Evaluator evaluator = new Evaluator(kernels, maxNorm);
            List<TrainResult> results = new ArrayList<>();
            for (int i = 0; i < configs.size(); i++) {
                SparseAutoencoder sae = loop.saes().get(i);
                if (scale != 1f) {
                    foldActivationScale(sae, scale);
                }
                EvalMetrics eval = split.evalRows() > 0 ? evaluator.evaluate(sae, source, split) : evaluator.evaluateAll(sae, source, 50_000);
                double mmcs = Double.NaN;
                double recovered = Double.NaN;
                if (truth != null) {
                    double[] rec = evaluator.recovery(sae, truth);
                    mmcs = rec[0];
                    recovered = rec[1];
                }
                double windowDead = loop.windowDead() == null ? Double.NaN : loop.windowDead()[i];
                TrainResult result = new TrainResult(sae, eval, steps * shared.batchSize(), steps, loop.seconds(), mmcs, recovered,
                        loop.badRows(), backend, loop.normDropped(), scale, windowDead, configs.get(i).effectiveDeadAfter());
                results.add(result);
                if (outDir != null) {
                    Path dir = memberDir(outDir, names.get(i));
                    SaeLensFormat.write(sae, dir.resolve(SAELENS_DIR), eval.log10Density());
                    writeRunInfo(dir, configs.get(i), dIn, result, loop.device());
                }
            }
            if (outDir != null && configs.size() > 1) {
                writeSweepSummary(outDir, configs, results);
            }
            return results;
        }
    }

    /**
     * {@code c} with each value it leaves to a default ("auto": learning rate, LR warm-up steps, dead window, revival
     * window, k at step 0, sparsity warm-up, ReLU's L1 relief) set to the value a checkpoint recorded under {@code effective}, so that a
     * run resumes with the values it started with even where a later version resolves "auto" differently (values
     * {@code c} sets explicitly are kept and compared). Each pinned value that differs from what {@code c} would resolve
     * to now is described in {@code differing} (when not null).
     */
    static TrainConfig pinRecordedAutoValues(TrainConfig c, JsonNode effective, List<String> differing) {
        TrainConfig.Builder b = c.toBuilder();
        JsonNode raced = effective.path("lr_raced");
        JsonNode v = effective.path("lr");
        if (Double.isNaN(c.lr()) && Double.isNaN(c.lrRaced()) && raced.isNumber()) {
            b.lrRaced(raced.asDouble()); // the rate the run's race chose: the run goes on with it, as it would have
        } else if (Double.isNaN(c.lr()) && Double.isNaN(c.lrRaced()) && v.isNumber()) {
            b.lr(v.asDouble());
            describe(differing, "learning rate", v.asDouble(), c.effectiveLr(), "");
        }
        if (c.lrRace() == null) {
            // a checkpoint that does not record it was written before the race existed, by a run without it
            v = effective.path("lr_race");
            if (!(v.isBoolean() && v.asBoolean())) {
                b.lrRace(false);
            }
        }
        v = effective.path("warmup_steps");
        if (c.warmupSteps() < 0 && v.canConvertToInt() && v.asInt() >= 0) {
            b.warmupSteps(v.asInt());
            describe(differing, "LR warm-up", v.asInt(), c.effectiveWarmupSteps(), " steps");
        }
        v = effective.path("dead_after");
        if (c.deadAfter() < 1 && v.canConvertToLong() && v.asLong() >= 1) {
            b.deadAfter(v.asLong());
            describe(differing, "dead window", v.asLong(), c.effectiveDeadAfter(), " rows");
        }
        v = effective.path("revive_after");
        if (c.reviveAfter() < 0 && v.canConvertToLong() && v.asLong() >= 0) {
            b.reviveAfter(v.asLong());
            describe(differing, "revival window", v.asLong(), c.effectiveReviveAfter(), " rows");
        }
        v = effective.path("k_start");
        if (c.kStart() < 0 && v.canConvertToInt() && v.asInt() >= 0) {
            // k at step 0 equal to k is "no annealing" (0), valid for every architecture
            b.kStart(v.asInt() <= c.k() ? 0 : v.asInt());
            describe(differing, "k at step 0", v.asInt(), c.effectiveKStart(), "");
        }
        v = effective.path("sparsity_warmup");
        if (c.sparsityWarmup() < 0 && v.isNumber()) {
            b.sparsityWarmup(v.asDouble());
            describe(differing, "sparsity warm-up", v.asDouble(), c.effectiveSparsityWarmup(), " of the run");
        }
        if (c.l1Relief() < 0 && c.architecture() == Architecture.RELU) {
            // a checkpoint that does not record it was written before the relief existed, by a run without it
            v = effective.path("l1_relief");
            double recorded = v.isNumber() ? v.asDouble() : 0;
            b.l1Relief(recorded);
            describe(differing, "L1 relief", recorded, c.effectiveL1Relief(), " of the batch");
        }
        if (c.dedupEvery() < 0) {
            // a checkpoint that does not record it was written before duplicate resampling existed, by a run without it
            v = effective.path("dedup_every");
            long recorded = v.canConvertToLong() ? Math.max(0, v.asLong()) : 0;
            if (recorded > 0 && c.device() == Device.CUDA) {
                if (TrainConfig.checksDuplicates(recorded, c.batchSize(), c.steps())) {
                    throw new SaeException("this run resamples duplicate latents every " + recorded + " rows, which the GPU does not do yet;"
                            + " resume it with --device cpu");
                }
                recorded = 0; // a run too short for a check trains the same without it
            }
            b.dedupEvery(recorded);
            describe(differing, "duplicate check", recorded, c.effectiveDedupEvery(), " rows");
        }
        if (c.lazyAdam() == null && c.architecture() == Architecture.RELU) {
            // a checkpoint that does not record it was written before lazy Adam existed, by a run that stepped every latent
            v = effective.path("lazy_adam");
            boolean recorded = v.isBoolean() && v.asBoolean();
            b.lazyAdam(recorded);
            if (differing != null && recorded != c.effectiveLazyAdam()) {
                differing.add("lazy Adam " + (recorded ? "on" : "off") + " (default now " + (c.effectiveLazyAdam() ? "on" : "off") + ")");
            }
        }
        return b.build();
    }

    private static void describe(List<String> differing, String what, double recorded, double now, String unit) {
        if (differing != null && recorded != now) {
            differing.add(what + " " + number(recorded) + unit + " (default now " + number(now) + unit + ")");
        }
    }

    private static String number(double v) {
        return v == Math.rint(v) && Math.abs(v) < 1e15 ? Long.toString((long) v) : Double.toString(v);
    }

    /**
     * The held-out size of a run that leaves {@code --eval-rows} out: this version's default for a new run, and for a
     * resumed one the size its checkpoint records, or the default of the versions that did not record it (1%).
     */
    static long defaultEvalRows(Checkpoint.Loaded resume, long numRows) {
        if (resume == null) {
            return HeldOutSplit.defaultEvalRows(numRows);
        }
        long recorded = resume.run().heldOutRows();
        return recorded >= 0 ? recorded : HeldOutSplit.legacyDefaultEvalRows(numRows);
    }

    /** Checks that the checkpoint was taken on data of this shape. */
    private static void requireSameData(Checkpoint.Loaded cp, ActivationSource source) {
        if (cp.run().dIn() != source.dIn() || cp.run().sourceRows() != source.numRows()) {
            throw new SaeException(cp.dir().resolve(Checkpoint.STATE) + ": the checkpoint was taken on data of " + cp.run().sourceRows()
                    + " rows x " + cp.run().dIn() + ", but " + source.path() + " has " + source.numRows() + " x " + source.dIn());
        }
    }

    /**
     * Checks that the checkpoint belongs to these configurations (its data: {@link #requireSameData}), and returns the
     * configurations to go on with: each with the values it leaves to defaults pinned to those the checkpoint recorded
     * ({@link #pinRecordedAutoValues}), since defaults change between versions (ReLU's sparsity warm-up: 5% of the run,
     * then 60%, then max(60%, 1 − 400k rows / tokens)).
     */
    private List<TrainConfig> checkResumable(Checkpoint.Loaded cp, List<TrainConfig> known) {
        Path file = cp.dir().resolve(Checkpoint.STATE);
        if (cp.members().size() != known.size()) {
            throw new SaeException(file + ": the checkpoint holds " + cp.members().size() + " SAEs, the configuration " + known.size());
        }
        List<TrainConfig> out = new ArrayList<>();
        for (int i = 0; i < known.size(); i++) {
            JsonNode savedJson = cp.members().get(i).path("config");
            TrainConfig saved = TrainConfig.fromJson(savedJson);
            List<String> differing = new ArrayList<>();
            TrainConfig given = pinRecordedAutoValues(known.get(i), savedJson.path("effective"), differing);
            if (!differing.isEmpty()) {
                listener.onInfo((names.get(i).isEmpty() ? "" : names.get(i) + ": ") + "resuming with the values the run started with"
                        + " where this version's defaults differ: " + String.join(", ", differing));
            }
            if (!pinRecordedAutoValues(saved, savedJson.path("effective"), null).sameTraining(given)
                    || !cp.members().get(i).path("name").asText().equals(names.get(i))) {
                throw new SaeException(file + ": the configuration of " + (names.get(i).isEmpty() ? "the SAE" : names.get(i))
                        + " differs from the one the run was started with; resume with the run's own config.json");
            }
            out.add(given);
        }
        if (cp.run().step() > known.get(0).steps()) {
            throw new SaeException(file + ": checkpoint step " + cp.run().step() + " is beyond the run's " + known.get(0).steps() + " steps");
        }
        return List.copyOf(out);
    }

    /**
     * What a training loop hands back; the members' optimiser state is released with it. {@code device} describes a
     * device-resident run (null on the CPU); {@code windowDead[i]} is the share of SAE i's latents that did not fire
     * within the last dead window of training (AuxK's definition), or null when the loop does not track it on the host.
     */
    record Loop(List<TrainConfig> configs, List<SparseAutoencoder> saes, double seconds, long badRows, long normDropped,
                DeviceLoop.Report device, double[] windowDead) {
    }

    /** One logged step of one SAE, as metrics.jsonl and the listener get it. */
    record Logged(TrainConfig config, StepStats stats, double lr, double deadFraction, double threshold) {
    }

    /**
     * The configurations as the GPU loop trains them: it does not resample duplicate latents yet, so a check interval
     * given or recorded by a CPU run is refused when the run would check, and set to 0 when it would not (run.json
     * records what ran).
     */
    static List<TrainConfig> withoutResampling(List<TrainConfig> configs) {
        List<TrainConfig> out = new ArrayList<>();
        for (TrainConfig c : configs) {
            if (c.dedupEvery() > 0 && c.checksDuplicates()) {
                throw new SaeException("--dedup-every is not implemented on the GPU yet; use 0 or --device cpu");
            }
            out.add(c.effectiveDedupEvery() == 0 ? c : c.toBuilder().dedupEvery(0).build());
        }
        return out;
    }

    /**
     * The configurations with the learning-rate race turned off where it would run: the GPU loop does not race yet, and
     * a sweep trains each SAE at its own rate (run.json records what ran).
     */
    static List<TrainConfig> withoutRace(List<TrainConfig> configs) {
        return configs.stream().map(c -> c.racesLr() ? c.toBuilder().lrRace(false).build() : c).toList();
    }

    private Loop runSteps(List<TrainConfig> runConfigs, Kernels kernels, String backend, ActivationSource source, HeldOutSplit split,
                          BatchStream.Options options, Path outDir, Map<String, Object> meta, Checkpoint.Loaded resume) {
        int dIn = source.dIn();
        // a run with the default TopK rate races rates first; its racers all carry the run's (empty) name
        LrRace race = runConfigs.size() == 1 && runConfigs.get(0).racesLr() && resume == null ? new LrRace(runConfigs.get(0)) : null;
        if (race != null && !raceFits(race.racers().size(), runConfigs.get(0), dIn, options.bufferBytes())) {
            race = null;
            runConfigs = withoutRace(runConfigs);
        }
        List<TrainConfig> memberConfigs = race == null ? runConfigs : race.racers();
        List<Member> members = new ArrayList<>();
        try {
            for (int i = 0; i < memberConfigs.size(); i++) {
                members.add(new Member(race == null ? names.get(i) : names.get(0), memberConfigs.get(i), dIn));
            }
            return runSteps(members, memberConfigs, race, kernels, backend, source, split, options, outDir, meta, resume);
        } finally {
            members.forEach(Member::close);
        }
    }

    private Loop runSteps(List<Member> allMembers, List<TrainConfig> runConfigs, LrRace race, Kernels kernels, String backend,
                          ActivationSource source, HeldOutSplit split, BatchStream.Options options, Path outDir, Map<String, Object> meta,
                          Checkpoint.Loaded resume) {
        List<Member> members = allMembers;
        TrainConfig shared = runConfigs.get(0);
        int dIn = source.dIn();
        int b = shared.batchSize();
        long steps = shared.steps();
        try (BatchStream stream = new BatchStream(source, split, shared.seed(), options)) {
            listener.onStart(steps, steps * b, describe(race == null ? runConfigs : List.of(runConfigs.get(0).toBuilder().lrRaced(Double.NaN).build()),
                    names, source, split, backend, resume));
            if (race != null) {
                listener.onInfo("racing the learning rate: " + String.join(", ", race.labels()) + " side by side over the first "
                        + race.decisionStep() + " steps, then the one of the lowest projected batch FVU trains on alone (no checkpoint before step "
                        + race.decisionStep() + "; --no-lr-race turns it off)");
            }
            FloatMatrix batch = new FloatMatrix(b, dIn);
            long startStep = 0;
            double secondsBefore = 0;
            if (resume == null) {
                stream.next(batch);
                for (Member m : members) {
                    m.init(kernels, batch, meta);
                }
            } else {
                for (int i = 0; i < members.size(); i++) {
                    Member m = members.get(i);
                    m.restore(Checkpoint.read(resume, resume.members().get(i), m.config, Member.saeConfig(m.config, dIn, meta),
                            m.adam.firstMoments().length, m.logThreshold != null));
                }
                startStep = resume.run().step();
                secondsBefore = resume.run().trainSeconds();
                for (long s = 0; s < startStep; s++) {
                    stream.next(batch);
                }
                if (stream.rowsServed() != resume.run().rowsServed()) {
                    throw SaeException.internal("replayed " + stream.rowsServed() + " rows, the checkpoint recorded "
                            + resume.run().rowsServed(), null);
                }
            }
            Path raceDir = outDir == null || race == null ? null : outDir.resolve(RACE_DIR);
            List<String> logNames = race == null ? names : race.labels();
            List<BufferedWriter> metrics = openMetrics(race == null ? outDir : raceDir, logNames, startStep);
            int logEvery = shared.effectiveLogEvery();
            long every = shared.effectiveCheckpointEvery();
            long t0 = System.nanoTime();
            try {
                for (long step = startStep; step < steps; step++) {
                    if (step > startStep || resume != null) {
                        stream.next(batch);
                    }
                    boolean racing = race != null && members.size() > 1;
                    for (int i = 0; i < members.size(); i++) {
                        if (!racing) {
                            members.get(i).step(kernels, batch, step);
                        } else if (!race.isOut(i)) {
                            raceStep(race, i, members.get(i), kernels, batch, step);
                        }
                    }
                    long tokens = (step + 1) * b;
                    if ((step + 1) % logEvery == 0 || step == steps - 1) {
                        double secs = (System.nanoTime() - t0) / 1e9;
                        double rps = (step + 1 - startStep) * (double) b / Math.max(secs, 1e-9);
                        List<Logged> logged = new ArrayList<>();
                        List<String> shown = new ArrayList<>();
                        List<BufferedWriter> files = new ArrayList<>();
                        for (int i = 0; i < members.size(); i++) {
                            Member m = members.get(i);
                            if (!racing || !race.isOut(i)) {
                                logged.add(new Logged(m.config, m.last, m.lastLr, m.dead.deadFraction(), m.thresholdSummary()));
                                shown.add(racing ? logNames.get(i) : names.get(i));
                                files.add(metrics.get(i));
                            }
                        }
                        report(listener, shown, logged, files, step + 1, tokens, rps);
                    }
                    if (racing && step + 1 == race.decisionStep()) {
                        int w = race.decide();
                        listener.onInfo(race.summary());
                        for (int i = 0; i < members.size(); i++) {
                            if (i != w) {
                                members.get(i).close();
                            }
                        }
                        members = List.of(members.get(w));
                        metrics.forEach(Trainer::closeQuietly);
                        if (outDir != null) {
                            AtomicFiles.writeString(raceDir.resolve(RACE_FILE), Json.pretty(race.toJson()) + "\n");
                            Path from = memberDir(raceDir, logNames.get(w)).resolve(METRICS_FILE);
                            try {
                                AtomicFiles.writeString(outDir.resolve(METRICS_FILE), Files.readString(from, StandardCharsets.UTF_8));
                            } catch (IOException e) {
                                throw SaeException.internal(from + ": cannot read the race's metrics log (" + e.getMessage() + ")", e);
                            }
                        }
                        metrics = openMetrics(outDir, names, step + 1);
                    }
                    boolean due = every > 0 && tokens / every > (tokens - b) / every;
                    if (outDir != null && due && step + 1 < steps && !(race != null && members.size() > 1)) {
                        checkpoint(outDir, members, step + 1, stream, secondsBefore + (System.nanoTime() - t0) / 1e9, options, source, split);
                    }
                }
            } finally {
                metrics.forEach(Trainer::closeQuietly);
            }
            for (Member m : members) {
                if (m.resampled > 0) {
                    listener.onInfo((m.name.isEmpty() ? "" : m.name + ": ") + "restarted " + m.resampled + " duplicate latents on residuals"
                            + " (a check every " + m.config.dedupEverySteps() + " steps up to "
                            + Math.round(100 * DuplicateResampler.UNTIL) + "% of the run; --dedup-every 0 turns it off)");
                }
            }
            double seconds = secondsBefore + (System.nanoTime() - t0) / 1e9;
            if (outDir != null && (resume == null || startStep < steps)) {
                checkpoint(outDir, members, steps, stream, seconds, options, source, split);
            }
            List<SparseAutoencoder> saes = members.stream().map(m -> m.sae).toList();
            double[] windowDead = members.stream().mapToDouble(m -> m.dead.deadFraction()).toArray();
            return new Loop(members.stream().map(m -> m.config).toList(), saes, seconds, stream.badRows(), stream.normDropped(), null,
                    windowDead);
        }
    }

    /**
     * Whether the heap holds the racers: their estimated memory ({@link #memberBytes}) and the shuffle buffer within half
     * of the heap left (the rest is the collector's room). Says why not when they do not fit.
     */
    private boolean raceFits(int racers, TrainConfig c, int dIn, long bufferBytes) {
        Runtime rt = Runtime.getRuntime();
        long left = rt.maxMemory() - (rt.totalMemory() - rt.freeMemory());
        long need = bufferBytes + racers * memberBytes(c, dIn);
        if (need <= left / 2) {
            return true;
        }
        listener.onInfo(String.format(Locale.ROOT, "not racing the learning rate: %d racers and the shuffle buffer need about %.2f GiB, more than"
                + " half of the %.2f GiB of heap left; training at the default rate (JAVA_OPTS=-Xmx... gives the JVM more; --no-lr-race"
                + " says this is meant)", racers, need / (double) (1L << 30), left / (double) (1L << 30)));
        return false;
    }

    /**
     * A generous estimate of what one more SAE adds to a CPU run: weights and Adam moments (6 n d floats), the
     * objective's batch-sized buffers (reconstruction, its gradient and AuxK's three: 6 b d, one to spare) and the
     * batch's codes (index and value per selection, twice k). The kernels' scratch (row blocks of the encoder product)
     * is shared by every SAE of the run.
     */
    static long memberBytes(TrainConfig c, int dIn) {
        long n = c.numLatents();
        long b = c.batchSize();
        return 4L * (6 * n * dIn + 6 * b * dIn + 4 * b * c.maxK());
    }

    /** A racer's step: its batch FVU counts in the race; a loss that is not finite takes it out of the race. */
    private static void raceStep(LrRace race, int i, Member m, Kernels kernels, FloatMatrix batch, long step) {
        try {
            StepStats s = m.step(kernels, batch, step);
            race.record(i, step, s.fvu());
        } catch (SaeException e) {
            race.drop(i, "loss not finite at step " + (step + 1));
            if (race.allOut()) {
                throw new SaeException("training diverged at step " + step + " at every learning rate of the race; lower --lr or check the data");
            }
        }
    }

    static String describe(List<TrainConfig> configs, List<String> names, ActivationSource source, HeldOutSplit split, String backend,
                           Checkpoint.Loaded resume) {
        TrainConfig c = configs.get(0);
        String what;
        if (configs.size() == 1) {
            what = String.format(Locale.ROOT, "%s %d latents%s, batch %d, %d steps, lr %s%.3g", c.architecture().cliName(), c.numLatents(),
                    c.k() > 0 ? ", k=" + c.k() : "", c.batchSize(), c.steps(), c.racesLr() ? "race from " : "", c.effectiveLr());
        } else {
            what = String.format(Locale.ROOT, "sweep of %d SAEs (%s), batch %d, %d steps", configs.size(), String.join(", ", names),
                    c.batchSize(), c.steps());
        }
        return String.format(Locale.ROOT, "%s: %d rows x %d (%s), %d held out; %s, backend %s%s", source.path().getFileName(),
                source.numRows(), source.dIn(), source.dtype(), split.evalRows(), what, backend,
                resume == null ? "" : "; resuming from " + resume.dir() + " (step " + resume.run().step() + ")");
    }

    private void checkpoint(Path outDir, List<Member> members, long step, BatchStream stream, double seconds, BatchStream.Options options,
                            ActivationSource source, HeldOutSplit split) {
        Checkpoint.RunState state = new Checkpoint.RunState(step, stream.rowsServed(), seconds, stream.badRows(), stream.normDropped(),
                options.scale(), options.maxNorm(), source.numRows(), source.dIn(), split.requestedRows());
        Path dir = Checkpoint.write(outDir, state, members.stream().map(Checkpoint.MemberState::of).toList(),
                configs.get(0).keepCheckpoints());
        listener.onCheckpoint(step, dir);
    }

    /** Writes one metrics.jsonl line per SAE and tells the listener. */
    static void report(TrainListener listener, List<String> names, List<Logged> logged, List<BufferedWriter> metrics, long step, long tokens,
                       double rps) {
        List<StepStats> stats = new ArrayList<>();
        for (int i = 0; i < logged.size(); i++) {
            stats.add(logged.get(i).stats());
            writeMetrics(metrics.get(i), logged.get(i), step, tokens, rps);
        }
        listener.onMembersStep(step, tokens, logged.get(0).lr(), names, stats, rps);
    }

    /**
     * Opens each SAE's metrics.jsonl: new, or on resume cut back to the lines up to the checkpoint's step and appended
     * to (so a resumed run's log reads as an uninterrupted one's).
     */
    static List<BufferedWriter> openMetrics(Path outDir, List<String> names, long startStep) {
        List<BufferedWriter> out = new ArrayList<>();
        for (String name : names) {
            if (outDir == null) {
                out.add(null);
                continue;
            }
            Path file = memberDir(outDir, name).resolve(METRICS_FILE);
            try {
                Files.createDirectories(file.getParent());
                if (startStep > 0 && Files.exists(file)) {
                    StringBuilder kept = new StringBuilder();
                    for (String line : Files.readAllLines(file, StandardCharsets.UTF_8)) {
                        JsonNode o;
                        try {
                            o = Json.mapper().readTree(line);
                        } catch (IOException e) {
                            break; // a line cut by the crash
                        }
                        if (o == null || o.path("step").asLong() > startStep) {
                            break;
                        }
                        kept.append(line).append('\n');
                    }
                    AtomicFiles.writeString(file, kept.toString());
                    out.add(Files.newBufferedWriter(file, StandardCharsets.UTF_8, StandardOpenOption.APPEND));
                } else {
                    out.add(Files.newBufferedWriter(file, StandardCharsets.UTF_8));
                }
            } catch (IOException e) {
                out.forEach(Trainer::closeQuietly);
                throw SaeException.internal(file + ": cannot write the metrics log (" + e.getMessage() + ")", e);
            }
        }
        return out;
    }

    private static void writeMetrics(BufferedWriter out, Logged m, long step, long tokens, double rps) {
        if (out == null) {
            return;
        }
        StepStats s = m.stats();
        ObjectNode o = Json.object();
        o.put("step", step);
        o.put("tokens", tokens);
        o.put("lr", m.lr());
        o.put("loss", s.loss());
        o.put("fvu", s.fvu());
        o.put("auxk", s.auxK());
        o.put("sparsity_loss", s.sparsity());
        o.put("l0", s.l0());
        o.put("dead_fraction", m.deadFraction());
        if (m.config().effectiveKStart() > m.config().k()) {
            o.put("k", m.config().kAt(step - 1));
        }
        double th = m.threshold();
        if (!Double.isNaN(th)) {
            o.put("threshold", th);
        }
        if (s.prefixFvu() != null) {
            ArrayNode a = o.putArray("fvu_prefixes");
            for (double f : s.prefixFvu()) {
                a.add(f);
            }
        }
        o.put("rows_per_sec", Math.round(rps * 10) / 10.0);
        try {
            out.write(Json.compact(o));
            out.newLine();
            out.flush();
        } catch (IOException e) {
            throw SaeException.internal("cannot write " + METRICS_FILE + " (" + e.getMessage() + ")", e);
        }
    }

    /**
     * Folds the activation scale s a model was trained with (on rows s·x) into its weights, so that it takes raw rows:
     * {@code W_enc ← s·W_enc}, {@code W_dec ← W_dec / s}, {@code b_dec ← b_dec / s}; pre-activations and codes are
     * unchanged, so thresholds stay (SAELens {@code fold_activation_norm_scaling_factor}).
     */
    static void foldActivationScale(SparseAutoencoder sae, float s) {
        float[] wEncT = sae.wEncT().data();
        for (int i = 0; i < wEncT.length; i++) {
            wEncT[i] *= s;
        }
        float[] wDec = sae.wDec().data();
        for (int i = 0; i < wDec.length; i++) {
            wDec[i] /= s;
        }
        float[] bDec = sae.bDec();
        for (int i = 0; i < bDec.length; i++) {
            bDec[i] /= s;
        }
    }

    private static void writeRunInfo(Path dir, TrainConfig config, int dIn, TrainResult result, DeviceLoop.Report device) {
        ObjectNode info = Json.object();
        ObjectNode cfg = config.toJson();
        cfg.put("d_in", dIn);
        info.set("config", cfg);
        info.set("metrics", result.toJson());
        if (device != null) {
            info.set("device", device.toJson());
        }
        if (!Double.isNaN(config.lrRaced())) {
            // the race's result as saved at its decision (also by the process that ran it, if this one resumed after)
            Path saved = dir.resolve(RACE_DIR).resolve(RACE_FILE);
            try {
                if (Files.exists(saved)) {
                    info.set("lr_race", Json.mapper().readTree(saved.toFile()));
                }
            } catch (IOException e) {
                // run.json goes without it; the configuration still records the chosen rate
            }
        }
        AtomicFiles.writeString(dir.resolve(RUN_FILE), Json.pretty(info) + "\n");
    }

    private void writeSweepSummary(Path outDir, List<TrainConfig> runConfigs, List<TrainResult> results) {
        ObjectNode o = Json.object();
        ArrayNode a = o.putArray("saes");
        for (int i = 0; i < results.size(); i++) {
            ObjectNode e = a.addObject();
            e.put("name", names.get(i));
            e.put("dir", names.get(i));
            e.put("architecture", runConfigs.get(i).architecture().cliName());
            e.put("num_latents", runConfigs.get(i).numLatents());
            e.put("k", runConfigs.get(i).k());
            e.put("lr", runConfigs.get(i).effectiveLr());
            e.set("metrics", results.get(i).toJson());
        }
        AtomicFiles.writeString(outDir.resolve(SWEEP_FILE), Json.pretty(o) + "\n");
    }

    static void closeQuietly(BufferedWriter w) {
        if (w != null) {
            try {
                w.close();
            } catch (IOException e) {
                // metrics are flushed line by line; nothing more to save
            }
        }
    }
}
