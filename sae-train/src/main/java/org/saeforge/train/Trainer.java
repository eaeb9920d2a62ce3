package org.saeforge.train;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.BufferedWriter;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.TreeMap;
import org.saeforge.core.SaeException;
import org.saeforge.core.data.ActivationSource;
import org.saeforge.core.data.BatchStream;
import org.saeforge.core.data.HeldOutSplit;
import org.saeforge.core.data.NormStats;
import org.saeforge.core.io.Json;
import org.saeforge.core.io.SaeLensFormat;
import org.saeforge.core.kernels.Kernels;
import org.saeforge.core.kernels.KernelsFactory;
import org.saeforge.core.kernels.cpu.CpuKernels;
import org.saeforge.core.model.Architecture;
import org.saeforge.core.model.SaeConfig;
import org.saeforge.core.model.SparseAutoencoder;
import org.saeforge.core.tensor.FloatMatrix;

/**
 * Trains a TopK sparse autoencoder on a source: held-out split, shuffled batches, geometric-median bDec, Adam with
 * warm-up and linear decay, decoder-norm constraint, AuxK on dead latents; then evaluates on the held-out rows and,
 * when an output directory is given, writes {@code metrics.jsonl}, {@code config.json} and the SAELens export
 * {@code saelens/}.
 */
public final class Trainer {
    /** Directory name of the SAELens export inside a run directory. */
    public static final String SAELENS_DIR = "saelens";
    public static final String METRICS_FILE = "metrics.jsonl";

    private final TrainConfig config;
    private final TrainListener listener;

    public Trainer(TrainConfig config, TrainListener listener) {
        this.config = config;
        this.listener = listener == null ? new TrainListener() { } : listener;
    }

    /**
     * @param outDir run directory (created), or null to write nothing
     * @param truth  ground-truth dictionary [features, dIn] for recovery metrics, or null
     * @param metadata provenance stored in the export (model_name, hook_name, dataset_path...)
     */
    public TrainResult train(ActivationSource source, Path outDir, FloatMatrix truth, Map<String, Object> metadata) {
        int dIn = source.dIn();
        if (truth != null && truth.cols() != dIn) {
            throw new SaeException("--truth has width " + truth.cols() + " but the data has d_in " + dIn);
        }
        long evalRows = config.evalRows() >= 0 ? config.evalRows() : HeldOutSplit.defaultEvalRows(source.numRows());
        HeldOutSplit split = HeldOutSplit.create(source.numRows(), evalRows, config.seed());
        if (split.trainRows() < config.batchSize()) {
            throw new SaeException(source.path() + ": " + split.trainRows() + " training rows is fewer than one batch (--batch-size "
                    + config.batchSize() + ")");
        }
        long bufferBytes = config.bufferBytes() > 0 ? config.bufferBytes() : BatchStream.defaultBufferBytes(dIn);
        Map<String, Object> meta = new TreeMap<>(metadata == null ? Map.of() : metadata);
        meta.putIfAbsent("dataset_path", source.path().toString());
        SaeConfig saeConfig = new SaeConfig(Architecture.TOPK, dIn, config.numLatents(), config.k(), true, meta);

        double maxNorm = Double.POSITIVE_INFINITY;
        float scale = 1f;
        if (config.maxNormRatio() > 0 || config.normalizeActivations()) {
            NormStats norms = NormStats.sample(source, NormStats.DEFAULT_SAMPLE);
            if (config.maxNormRatio() > 0) {
                maxNorm = config.maxNormRatio() * norms.medianNorm();
                listener.onInfo(String.format("--max-norm-ratio %s: dropping rows with norm above %.4g (%s x median %.4g); %d of %d sampled"
                        + " rows are above", config.maxNormRatio(), maxNorm, config.maxNormRatio(), norms.medianNorm(),
                        norms.countAbove(maxNorm), norms.rows()));
            }
            if (config.normalizeActivations()) {
                scale = (float) norms.scaleToDIn(dIn, maxNorm);
                listener.onInfo(String.format("normalizing activations: rows x %.6g (mean squared norm %.4g -> d_in %d); folded into"
                        + " the exported weights", scale, norms.meanSquaredNorm(), dIn));
            }
        }

        try (Kernels kernels = KernelsFactory.create(config.device(), config.threads())) {
            String backend = kernels.name() + (kernels instanceof CpuKernels c ? "/" + c.gemmName() : "");
            long steps = config.steps();
            // the stream, optimizer state and step buffers are released before evaluation needs its own memory
            Trained trained = runSteps(kernels, backend, source, split, saeConfig,
                    new BatchStream.Options(bufferBytes, config.badRows(), maxNorm, scale), outDir);
            SparseAutoencoder sae = trained.sae();
            double trainSeconds = trained.seconds();
            listener.onTrainingDone(steps, trainSeconds);
            if (trained.badRows() > 0) {
                listener.onInfo("skipped " + trained.badRows() + " training rows holding NaN or infinity");
            }
            if (trained.normDropped() > 0) {
                listener.onInfo("dropped " + trained.normDropped() + " training rows with norm above the --max-norm-ratio limit");
            }
            if (scale != 1f) {
                foldActivationScale(sae, scale);
            }

            Evaluator evaluator = new Evaluator(kernels, maxNorm);
            EvalMetrics eval = split.evalRows() > 0 ? evaluator.evaluate(sae, source, split) : evaluator.evaluateAll(sae, source, 50_000);
            double mmcs = Double.NaN;
            double recovered = Double.NaN;
            if (truth != null) {
                double[] rec = evaluator.recovery(sae, truth);
                mmcs = rec[0];
                recovered = rec[1];
            }
            TrainResult result = new TrainResult(sae, eval, steps * config.batchSize(), steps, trainSeconds, mmcs, recovered,
                    trained.badRows(), backend, trained.normDropped(), scale);
            if (outDir != null) {
                SaeLensFormat.write(sae, outDir.resolve(SAELENS_DIR), eval.log10Density());
                writeRunInfo(outDir, result);
            }
            return result;
        }
    }

    /** What the training loop hands back. */
    private record Trained(SparseAutoencoder sae, double seconds, long badRows, long normDropped) {
    }

    private Trained runSteps(Kernels kernels, String backend, ActivationSource source, HeldOutSplit split, SaeConfig saeConfig,
                             BatchStream.Options options, Path outDir) {
        int dIn = source.dIn();
        long steps = config.steps();
        try (BatchStream stream = new BatchStream(source, split, config.seed(), options)) {
            listener.onStart(steps, steps * config.batchSize(), String.format(
                    "%s: %d rows x %d (%s), %d held out; TopK %d latents, k=%d, batch %d, %d steps, lr %.3g, backend %s",
                    source.path().getFileName(), source.numRows(), dIn, source.dtype(), split.evalRows(), config.numLatents(),
                    config.k(), config.batchSize(), steps, config.effectiveLr(), backend));
            FloatMatrix batch = new FloatMatrix(config.batchSize(), dIn);
            stream.next(batch);
            SparseAutoencoder sae = Initializer.init(saeConfig, batch, config.seed());
            TopKObjective objective = new TopKObjective(config.batchSize(), dIn, config.numLatents(), config.k(),
                    config.effectiveKAux(dIn), config.auxKCoef());
            Gradients grads = new Gradients(config.numLatents(), dIn);
            AdamOptimizer adam = new AdamOptimizer(config.numLatents(), dIn);
            DeadLatentTracker dead = new DeadLatentTracker(config.numLatents(), config.deadAfter());
            LrSchedule schedule = new LrSchedule(config.effectiveLr(), config.effectiveWarmupSteps(), steps);
            int logEvery = config.effectiveLogEvery();

            BufferedWriter metricsOut = openMetrics(outDir);
            long t0 = System.nanoTime();
            try {
                for (long step = 0; step < steps; step++) {
                    if (step > 0) {
                        stream.next(batch);
                    }
                    StepStats stats = objective.lossAndGradient(kernels, sae, batch, dead.deadIds(), dead.numDead(), grads);
                    double lr = schedule.lrAt(step);
                    adam.step(kernels, sae, grads, lr);
                    dead.update(objective.codes(), config.batchSize());
                    if (!Double.isFinite(stats.fvu())) {
                        throw SaeException.internal("training diverged at step " + step + " (FVU " + stats.fvu()
                                + "); lower --lr or check the data", null);
                    }
                    if ((step + 1) % logEvery == 0 || step == steps - 1) {
                        long tokens = (step + 1) * config.batchSize();
                        double secs = (System.nanoTime() - t0) / 1e9;
                        double rps = tokens / Math.max(secs, 1e-9);
                        listener.onStep(step + 1, tokens, lr, stats, rps);
                        writeMetrics(metricsOut, step + 1, tokens, lr, stats, dead, rps);
                    }
                }
            } finally {
                closeQuietly(metricsOut);
            }
            return new Trained(sae, (System.nanoTime() - t0) / 1e9, stream.badRows(), stream.normDropped());
        }
    }

    /**
     * Folds the activation scale s a model was trained with (on rows s·x) into its weights, so that it takes raw rows:
     * {@code W_enc ← s·W_enc}, {@code W_dec ← W_dec / s}, {@code b_dec ← b_dec / s}; the codes are unchanged (SAELens
     * {@code fold_activation_norm_scaling_factor}).
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

    private BufferedWriter openMetrics(Path outDir) {
        if (outDir == null) {
            return null;
        }
        try {
            Files.createDirectories(outDir);
            return Files.newBufferedWriter(outDir.resolve(METRICS_FILE), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw SaeException.internal(outDir + ": cannot create the run directory (" + e.getMessage() + ")", e);
        }
    }

    private void writeMetrics(BufferedWriter out, long step, long tokens, double lr, StepStats s, DeadLatentTracker dead,
                              double rps) {
        if (out == null) {
            return;
        }
        ObjectNode o = Json.object();
        o.put("step", step);
        o.put("tokens", tokens);
        o.put("lr", lr);
        o.put("fvu", s.fvu());
        o.put("auxk", s.auxK());
        o.put("l0", s.l0());
        o.put("dead_fraction", dead.deadFraction());
        o.put("rows_per_sec", Math.round(rps * 10) / 10.0);
        try {
            out.write(Json.compact(o));
            out.newLine();
            out.flush();
        } catch (IOException e) {
            throw SaeException.internal("cannot write " + METRICS_FILE + " (" + e.getMessage() + ")", e);
        }
    }

    private void writeRunInfo(Path outDir, TrainResult result) {
        ObjectNode info = Json.object();
        ObjectNode cfg = info.putObject("config");
        cfg.put("architecture", "topk");
        cfg.put("num_latents", config.numLatents());
        cfg.put("k", config.k());
        cfg.put("batch_size", config.batchSize());
        cfg.put("tokens", config.tokens());
        cfg.put("seed", config.seed());
        cfg.put("lr", config.effectiveLr());
        cfg.put("warmup_steps", config.effectiveWarmupSteps());
        cfg.put("dead_after", config.deadAfter());
        cfg.put("auxk_coef", config.auxKCoef());
        cfg.put("device", config.device().cliName());
        cfg.put("threads", config.threads());
        cfg.put("max_norm_ratio", config.maxNormRatio());
        cfg.put("normalize_activations", config.normalizeActivations());
        info.set("metrics", result.toJson());
        org.saeforge.core.io.AtomicFiles.writeString(outDir.resolve("run.json"), Json.pretty(info) + "\n");
    }

    private static void closeQuietly(BufferedWriter w) {
        if (w != null) {
            try {
                w.close();
            } catch (IOException e) {
                // metrics are flushed line by line; nothing more to save
            }
        }
    }
}
