package org.saeforge.cli;

import java.io.PrintStream;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.Callable;
import org.saeforge.core.data.ActivationSource;
import org.saeforge.core.data.ActivationSources;
import org.saeforge.core.io.Json;
import org.saeforge.core.io.SparsifyFormat;
import org.saeforge.core.kernels.Kernels;
import org.saeforge.core.kernels.KernelsFactory;
import org.saeforge.core.model.SparseAutoencoder;
import org.saeforge.core.tensor.FloatMatrix;
import org.saeforge.train.EvalMetrics;
import org.saeforge.train.Evaluator;
import org.saeforge.train.TrainConfig;
import org.saeforge.train.TrainResult;
import org.saeforge.train.Trainer;
import org.saeforge.train.synth.SyntheticData;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code sae quickstart}: the whole path on a built-in example, in about a minute on two cores: synthetic activations
 * with a known dictionary, training, evaluation on a fresh test set, SAELens and sparsify exports, and a reload check.
 */
@Command(name = "quickstart", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Run SAEForge end to end on a built-in synthetic example:",
                "synth -> train -> eval -> export, then print the metrics and where the files are."})
final class QuickstartCommand implements Callable<Integer> {
    static final int D_IN = 128;
    static final int FEATURES = 1024;
    static final double AVG_ACTIVE = 12;
    static final long TRAIN_ROWS = 120_000;
    static final long TEST_ROWS = 10_000;
    static final int NUM_LATENTS = 2048;
    static final int K = 16;
    static final int BATCH = 2048;
    static final long TOKENS = 1_200_000;
    static final double LR = 2e-3;

    private final Io io;

    QuickstartCommand(Io io) {
        this.io = io;
    }

    @Option(names = "--out", paramLabel = "DIR", defaultValue = "quickstart-out", description = "Where to write everything (default ${DEFAULT-VALUE}).")
    Path out;

    @Option(names = "--seed", defaultValue = "0", description = "Seed (default ${DEFAULT-VALUE}).")
    long seed;

    @Mixin
    DeviceOptions deviceOptions;

    @Override
    public Integer call() {
        PrintStream err = io.err();
        Path dataDir = out.resolve("data");
        Path acts = dataDir.resolve("acts.npy");
        Path test = dataDir.resolve("test.npy");
        Path truthFile = dataDir.resolve("truth.npy");
        Path run = out.resolve("run");

        err.printf("[1/4] synth: %d + %d rows of width %d from %d known features (~%.0f active per row) -> %s%n",
                TRAIN_ROWS, TEST_ROWS, D_IN, FEATURES, AVG_ACTIVE, dataDir);
        SyntheticData synth = new SyntheticData(D_IN, FEATURES, AVG_ACTIVE, seed);
        synth.write(acts, TRAIN_ROWS, 0);
        synth.write(test, TEST_ROWS, 1);
        synth.writeTruth(truthFile);
        FloatMatrix truth = synth.truth();

        err.printf("[2/4] train: TopK SAE, %d latents, k=%d, %d rows in batches of %d, lr %.0e -> %s%n",
                NUM_LATENTS, K, TOKENS, BATCH, LR, run);
        TrainConfig config = TrainConfig.defaults(NUM_LATENTS, K).withBatchSize(BATCH).withTokens(TOKENS).withSeed(seed).withLr(LR)
                .withDevice(deviceOptions.device(), deviceOptions.threads());
        TrainResult result;
        try (ActivationSource source = ActivationSources.open(acts)) {
            result = new Trainer(config, new ProgressReporter(err)).train(source, run, truth,
                    Map.of("model_name", "saeforge-synthetic", "hook_name", "synthetic"));
        }

        Path saelens = run.resolve(Trainer.SAELENS_DIR);
        err.printf("[3/4] eval: reloading %s and evaluating on %d unseen test rows%n", saelens, TEST_ROWS);
        SparseAutoencoder loaded = SparseAutoencoder.load(saelens);
        EvalMetrics testMetrics;
        try (ActivationSource source = ActivationSources.open(test);
             Kernels kernels = KernelsFactory.create(deviceOptions.device(), deviceOptions.threads())) {
            testMetrics = new Evaluator(kernels).evaluateAll(loaded, source, 0);
        }

        Path sparsify = out.resolve("sparsify");
        err.printf("[4/4] export: sparsify layout -> %s%n", sparsify);
        SparsifyFormat.write(loaded, sparsify);

        err.println();
        err.printf("held-out FVU %.4f (variance unexplained), L0 %.1f, dead latents %.1f%%, %s rows/s on %s%n",
                result.eval().fvu(), result.eval().l0(), 100 * result.eval().deadFraction(), String.format("%,.0f", result.rowsPerSec()),
                result.backend());
        err.printf("test-set FVU %.4f; ground truth: mean max cosine %.3f, %.1f%% of features recovered at cosine > 0.9%n",
                testMetrics.fvu(), result.mmcs(), 100 * result.recovered());
        err.println("files:");
        err.println("  " + saelens + "/  SAELens v6 (cfg.json, sae_weights.safetensors, sparsity.safetensors)");
        err.println("  " + sparsify + "/  sparsify layout (cfg.json, sae.safetensors)");
        err.println("  " + run.resolve(Trainer.METRICS_FILE) + "  training curve, one JSON object per logged step");
        err.println("  " + run.resolve("run.json") + "  configuration and final metrics");
        err.println("next: sae train --data YOUR_ACTS.npy --num-latents 16384 --k 32 --tokens 50M --out runs/mine");

        var json = result.toJson();
        json.put("test_fvu", testMetrics.fvu());
        json.put("out", out.toString());
        io.out().println(Json.compact(json));
        return 0;
    }
}
