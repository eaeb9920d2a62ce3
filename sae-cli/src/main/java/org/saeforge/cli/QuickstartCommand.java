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
import org.saeforge.train.dictionary.DictionaryBuilder;
import org.saeforge.train.dictionary.DictionaryConfig;
import org.saeforge.train.dictionary.DictionaryResult;
import org.saeforge.train.dictionary.DictionaryWriter;
import org.saeforge.train.Trainer;
import org.saeforge.train.synth.SyntheticData;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code sae quickstart}: the whole path on a built-in example, in well under two minutes on two cores: synthetic
 * image/caption activations with a known dictionary, training, evaluation on a fresh test set, SAELens and sparsify
 * exports, and a feature dictionary with its HTML browser.
 */
@Command(name = "quickstart", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Run SAEForge end to end on a built-in synthetic example:",
                "synth -> train -> eval -> export -> dictionary, then print the metrics and where the files are."})
final class QuickstartCommand implements Callable<Integer> {
    static final int D_IN = 128;
    static final int FEATURES = 1024;
    static final double AVG_ACTIVE = 12;
    static final long TRAIN_ROWS = 120_000;
    static final long TEST_ROWS = 10_000;
    static final int NUM_LATENTS = 2048;
    static final int K = 16;
    static final int BATCH = 2048;
    static final long TOKENS = 3_000_000;

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

    /**
     * For latents whose decoder row matches a true feature (cosine above 0.9): how many the dictionary puts in that
     * feature's modality class (image-only above an image energy share of 0.95, text-only below 0.05, else shared).
     *
     * @return {agreeing, matched}
     */
    static int[] modalityAgreement(SparseAutoencoder sae, FloatMatrix truth, SyntheticData synth, DictionaryResult dict) {
        int agree = 0;
        int matched = 0;
        int d = sae.dIn();
        for (int j = 0; j < sae.numLatents(); j++) {
            double norm = Math.sqrt(org.saeforge.core.kernels.cpu.VectorMath.sumSquares(sae.wDec().data(), j * d, d));
            int bestF = -1;
            double best = 0.9;
            for (int f = 0; f < truth.rows(); f++) {
                double cos = org.saeforge.core.kernels.cpu.VectorMath.dot(sae.wDec().data(), j * d, truth.data(), f * d, d) / norm;
                if (cos > best) {
                    best = cos;
                    bestF = f;
                }
            }
            double share = dict.imageShare(j);
            if (bestF < 0 || Double.isNaN(share)) {
                continue;
            }
            matched++;
            SyntheticData.Kind said = share > 0.95 ? SyntheticData.Kind.IMAGE : share < 0.05 ? SyntheticData.Kind.TEXT : SyntheticData.Kind.SHARED;
            if (said == synth.kind(bestF)) {
                agree++;
            }
        }
        return new int[] {agree, matched};
    }

    @Override
    public Integer call() {
        PrintStream err = io.err();
        Path dataDir = out.resolve("data");
        Path acts = dataDir.resolve("acts.npy");
        Path test = dataDir.resolve("test.npy");
        Path truthFile = dataDir.resolve("truth.npy");
        Path run = out.resolve("run");

        err.printf("[1/5] synth: %d + %d image/caption rows of width %d from %d known features (image-only, text-only and shared;"
                + " ~%.0f active per row) -> %s%n", TRAIN_ROWS, TEST_ROWS, D_IN, FEATURES, AVG_ACTIVE, dataDir);
        SyntheticData synth = new SyntheticData(D_IN, FEATURES, AVG_ACTIVE, seed);
        synth.writeMultimodal(acts, TRAIN_ROWS, 0);
        synth.writeMultimodal(test, TEST_ROWS, 1);
        synth.writeTruth(truthFile);
        FloatMatrix truth = synth.truth();

        // every training setting at its default (learning rate, revival, k annealing), as `sae train` would choose it
        TrainConfig config = TrainConfig.defaults(NUM_LATENTS, K).withBatchSize(BATCH).withTokens(TOKENS).withSeed(seed)
                .withDevice(deviceOptions.device(), deviceOptions.threads()).withDInIfUnknown(D_IN);
        err.printf("[2/5] train: TopK SAE, %d latents, k=%d (annealed from %d), %d rows in batches of %d, default lr %.2e -> %s%n",
                NUM_LATENTS, K, config.effectiveKStart(), TOKENS, BATCH, config.effectiveLr(), run);
        TrainResult result;
        try (ActivationSource source = ActivationSources.open(acts)) {
            result = new Trainer(config, new ProgressReporter(err)).train(source, run, truth,
                    Map.of("model_name", "saeforge-synthetic", "hook_name", "synthetic"));
        }

        Path saelens = run.resolve(Trainer.SAELENS_DIR);
        err.printf("[3/5] eval: reloading %s and evaluating on %d unseen test rows%n", saelens, TEST_ROWS);
        SparseAutoencoder loaded = SparseAutoencoder.load(saelens);
        EvalMetrics testMetrics;
        try (ActivationSource source = ActivationSources.open(test);
             Kernels kernels = KernelsFactory.create(deviceOptions.device(), deviceOptions.threads())) {
            testMetrics = new Evaluator(kernels).evaluateAll(loaded, source, 0);
        }

        Path sparsify = out.resolve("sparsify");
        err.printf("[4/5] export: sparsify layout -> %s%n", sparsify);
        SparsifyFormat.write(loaded, sparsify);

        Path dictDir = out.resolve("dictionary");
        err.printf("[5/5] dictionary: per-feature statistics, top examples, image/text scores and bridges on the test rows -> %s%n",
                dictDir);
        DictionaryResult dict;
        try (ActivationSource source = ActivationSources.open(test);
             Kernels kernels = KernelsFactory.create(deviceOptions.device(), deviceOptions.threads())) {
            dict = new DictionaryBuilder(DictionaryConfig.defaults(), kernels, null).build(loaded, source, source.metadata(), null);
        }
        DictionaryWriter.write(dict, dictDir);
        var crossModal = dict.summaryJson().path("cross_modal");

        err.println();
        err.printf("held-out FVU %.4f (variance unexplained), L0 %.1f, %s rows/s on %s%n",
                result.eval().fvu(), result.eval().l0(), String.format("%,.0f", result.rowsPerSec()), result.backend());
        String rare = String.format("%.1f%% never fired on the %,d held-out rows (that also counts rare latents)",
                100 * result.eval().deadFraction(), result.eval().rows());
        if (Double.isNaN(result.windowDeadFraction())) {
            err.printf("dead latents: %s%n", rare);
        } else {
            err.printf("dead latents: %.1f%% did not fire in the last %,d training rows; %s%n", 100 * result.windowDeadFraction(),
                    result.deadWindowRows(), rare);
        }
        err.printf("test-set FVU %.4f; ground truth: mean max cosine %.3f, %.1f%% of features recovered at cosine > 0.9%n",
                testMetrics.fvu(), result.mmcs(), 100 * result.recovered());
        if (!crossModal.isMissingNode()) {
            err.printf("dictionary: %d image-only, %d text-only and %d shared features; shared features hold %.0f%% of the energy%n",
                    crossModal.path("image_only").asInt(), crossModal.path("text_only").asInt(), crossModal.path("shared").asInt(),
                    100 * crossModal.path("shared_energy_share").asDouble());
            int[] agree = modalityAgreement(loaded, truth, synth, dict);
            err.printf("modality check: of the %d features that match a true feature (cosine > 0.9), %d (%.0f%%) got the true"
                    + " feature's modality (image-only, text-only or shared) right%n", agree[1], agree[0], 100.0 * agree[0] / Math.max(1, agree[1]));
        }
        err.println("files:");
        err.println("  " + dictDir.resolve("index.html").toAbsolutePath().toUri() + "  feature browser (open it in a browser)");
        err.println("  " + dictDir + "/  dictionary.json, features.jsonl, sparsity.safetensors");
        err.println("  " + saelens + "/  SAELens v6 (cfg.json, sae_weights.safetensors, sparsity.safetensors)");
        err.println("  " + sparsify + "/  sparsify layout (cfg.json, sae.safetensors)");
        err.println("  " + run.resolve(Trainer.METRICS_FILE) + "  training curve, one JSON object per logged step");
        err.println("  " + run.resolve("run.json") + "  configuration and final metrics");
        err.println("next: sae train --data YOUR_ACTS.npy --num-latents 16384 --k 32 --tokens 50M --out runs/mine");

        var json = result.toJson();
        json.put("test_fvu", testMetrics.fvu());
        json.put("html", dictDir.resolve("index.html").toString());
        json.put("out", out.toString());
        io.out().println(Json.compact(json));
        return 0;
    }
}
