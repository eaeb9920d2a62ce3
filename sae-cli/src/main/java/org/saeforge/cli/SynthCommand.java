package org.saeforge.cli;

import java.nio.file.Path;
import java.util.concurrent.Callable;
import org.saeforge.core.io.Json;
import org.saeforge.train.synth.SyntheticData;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code sae synth}: synthetic activations with a known dictionary. */
@Command(name = "synth", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Generate synthetic activations with a known ground-truth dictionary:",
                "x = offset + sum of active m_i f_i + noise, with unit-norm f_i, power-law firing frequencies,",
                "nonnegative magnitudes, a mean offset of norm 4 and noise 0.02. Prints a JSON summary."})
final class SynthCommand implements Callable<Integer> {
    private final Io io;

    SynthCommand(Io io) {
        this.io = io;
    }

    @Option(names = "--d-in", required = true, paramLabel = "D", description = "Row width.")
    int dIn;

    @Option(names = "--num-features", required = true, paramLabel = "F", description = "Ground-truth features.")
    int numFeatures;

    @Option(names = "--rows", required = true, paramLabel = "R", converter = Counts.class, description = "Rows to generate, e.g. 200k.")
    long rows;

    @Option(names = "--avg-active", paramLabel = "A", defaultValue = "20", description = "Mean active features per row (default ${DEFAULT-VALUE}).")
    double avgActive;

    @Option(names = "--seed", defaultValue = "0", description = "Seed (default ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--out", required = true, paramLabel = "FILE", description = "Activations .npy to write (float32).")
    Path out;

    @Option(names = "--truth-out", required = true, paramLabel = "FILE", description = "Ground-truth dictionary .npy to write [F, D].")
    Path truthOut;

    @Option(names = "--multimodal", description = {"Image/caption pairs: rows alternate image and text of one source; 40%% of the features are",
            "image-only, 40%% text-only, 20%% shared (firing on both rows of a pair). Writes the row metadata (source_id, modality,",
            "position, label) to NAME.meta.csv beside --out."})
    boolean multimodal;

    @Override
    public Integer call() {
        SyntheticData synth = new SyntheticData(dIn, numFeatures, avgActive, seed);
        long t0 = System.nanoTime();
        var json = Json.object();
        if (multimodal) {
            SyntheticData.MultimodalSummary s = synth.writeMultimodal(out, rows, 0);
            json.put("rows", s.rows());
            json.put("avg_active_realized", Math.round(s.avgActiveRealized() * 1000) / 1000.0);
            json.put("image_features", s.imageFeatures());
            json.put("text_features", s.textFeatures());
            json.put("shared_features", s.sharedFeatures());
            json.put("metadata", org.saeforge.core.data.CsvMetadata.sidecarOf(out).toString());
        } else {
            SyntheticData.Summary s = synth.write(out, rows);
            json.put("rows", s.rows());
            json.put("avg_active_realized", Math.round(s.avgActiveRealized() * 1000) / 1000.0);
            json.put("features_never_fired", s.featuresNeverFired());
        }
        synth.writeTruth(truthOut);
        json.put("d_in", dIn);
        json.put("num_features", numFeatures);
        json.put("seed", seed);
        json.put("out", out.toString());
        json.put("truth_out", truthOut.toString());
        json.put("seconds", Math.round((System.nanoTime() - t0) / 1e7) / 100.0);
        io.out().println(Json.compact(json));
        return 0;
    }
}
