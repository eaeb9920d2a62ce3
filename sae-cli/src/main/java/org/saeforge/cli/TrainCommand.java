package org.saeforge.cli;

import java.nio.file.Path;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.Callable;
import org.saeforge.core.data.ActivationSource;
import org.saeforge.core.data.ActivationSources;
import org.saeforge.core.data.BadRowPolicy;
import org.saeforge.core.io.Json;
import org.saeforge.core.tensor.FloatMatrix;
import org.saeforge.train.TrainConfig;
import org.saeforge.train.TrainResult;
import org.saeforge.train.Trainer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code sae train}: trains a TopK SAE and exports it; the final metrics are the last line of stdout. */
@Command(name = "train", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Train a TopK sparse autoencoder on cached activations.",
                "Progress goes to stderr; the held-out metrics are printed as one JSON object on the last line of stdout.",
                "Writes DIR/metrics.jsonl, DIR/run.json and the SAELens export DIR/saelens/."})
final class TrainCommand implements Callable<Integer> {
    private final Io io;

    TrainCommand(Io io) {
        this.io = io;
    }

    @Mixin
    DataOptions dataOptions;

    @Option(names = "--num-latents", required = true, paramLabel = "N", description = "Dictionary size.")
    int numLatents;

    @Option(names = "--k", required = true, paramLabel = "K", description = "Active latents per row.")
    int k;

    @Option(names = "--batch-size", paramLabel = "B", defaultValue = "4096", description = "Rows per step (default ${DEFAULT-VALUE}).")
    int batchSize;

    @Option(names = "--tokens", required = true, paramLabel = "T", converter = Counts.class,
            description = "Training rows in total, e.g. 3M; steps = T / batch size.")
    long tokens;

    @Option(names = "--out", required = true, paramLabel = "DIR", description = "Run directory to write.")
    Path out;

    @Option(names = "--seed", defaultValue = "0", description = "Seed for initialisation, split and data order (default ${DEFAULT-VALUE}).")
    long seed;

    @Mixin
    DeviceOptions deviceOptions;

    @Option(names = "--truth", paramLabel = "FILE", description = "Ground-truth dictionary .npy [features, d_in] (from sae synth) to measure recovery.")
    Path truth;

    @Option(names = "--lr", paramLabel = "LR", description = "Adam learning rate (default 2e-4 / sqrt(num-latents / 16384)).")
    Double lr;

    @Option(names = "--warmup-steps", paramLabel = "N", description = "Linear warm-up steps (default min(1000, 5%% of steps)).")
    Integer warmupSteps;

    @Option(names = "--dead-after", paramLabel = "ROWS", converter = Counts.class, defaultValue = "10M",
            description = "A latent not selected for this many rows is dead and trained by AuxK (default ${DEFAULT-VALUE}).")
    long deadAfter;

    @Option(names = "--auxk-coef", paramLabel = "C", defaultValue = "0.03125", description = "AuxK loss coefficient; 0 disables it (default 1/32).")
    double auxKCoef;

    @Option(names = "--k-aux", paramLabel = "K", description = "Dead latents AuxK selects per row (default d_in / 2).")
    Integer kAux;

    @Option(names = "--eval-rows", paramLabel = "N", converter = Counts.class,
            description = "Held-out rows (default 1%% of the data, at most 50,000).")
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

    @Option(names = "--normalize-activations",
            description = "Train on rows scaled so their mean squared norm is d_in (scale estimated from a sample) and fold the scale "
                    + "into the exported weights (the export still reads raw activations; SAELens normalize_activations stays \"none\").")
    boolean normalizeActivations;

    @Option(names = "--log-every", paramLabel = "STEPS", description = "Steps between metrics.jsonl lines (default: about 100 per run).")
    Integer logEvery;

    @Option(names = "--model-name", paramLabel = "NAME", description = "Model the activations came from (stored in the export metadata).")
    String modelName;

    @Option(names = "--hook-name", paramLabel = "NAME", description = "Hook point of the activations (stored in the export metadata).")
    String hookName;

    @Override
    public Integer call() {
        TrainConfig config = buildConfig();
        FloatMatrix truthMatrix = truth == null ? null : ActivationSources.readMatrix(truth);
        Map<String, Object> meta = new TreeMap<>();
        if (modelName != null) {
            meta.put("model_name", modelName);
        }
        if (hookName != null) {
            meta.put("hook_name", hookName);
        }
        try (ActivationSource source = dataOptions.open()) {
            TrainResult result = new Trainer(config, new ProgressReporter(io.err())).train(source, out, truthMatrix, meta);
            io.err().println("model exported to " + out.resolve(Trainer.SAELENS_DIR) + "; metrics log " + out.resolve(Trainer.METRICS_FILE));
            io.out().println(Json.compact(result.toJson()));
        }
        return 0;
    }

    TrainConfig buildConfig() {
        TrainConfig c = TrainConfig.defaults(numLatents, k)
                .withBatchSize(batchSize)
                .withTokens(tokens)
                .withSeed(seed)
                .withDeadAfter(deadAfter)
                .withAuxK(auxKCoef, kAux == null ? -1 : kAux)
                .withBadRows(BadRowPolicy.fromCliName(onBadRows))
                .withDevice(deviceOptions.device(), deviceOptions.threads());
        if (lr != null) {
            c = c.withLr(lr);
        }
        if (warmupSteps != null) {
            c = c.withWarmupSteps(warmupSteps);
        }
        if (evalRows != null) {
            c = c.withEvalRows(evalRows);
        }
        if (shuffleBufferMb != null) {
            c = c.withBufferBytes(shuffleBufferMb << 20);
        }
        if (logEvery != null) {
            c = c.withLogEvery(logEvery);
        }
        if (maxNormRatio != null) {
            c = c.withMaxNormRatio(maxNormRatio);
        }
        if (normalizeActivations) {
            c = c.withNormalizeActivations(true);
        }
        return c;
    }
}
