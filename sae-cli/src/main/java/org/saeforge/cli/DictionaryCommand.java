package org.saeforge.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import org.saeforge.core.SaeException;
import org.saeforge.core.data.ActivationSource;
import org.saeforge.core.data.ActivationSources;
import org.saeforge.core.data.BadRowPolicy;
import org.saeforge.core.io.Json;
import org.saeforge.core.io.SaeLensFormat;
import org.saeforge.core.kernels.Kernels;
import org.saeforge.core.kernels.KernelsFactory;
import org.saeforge.core.model.SparseAutoencoder;
import org.saeforge.train.Trainer;
import org.saeforge.train.dictionary.DictionaryBuilder;
import org.saeforge.train.dictionary.DictionaryConfig;
import org.saeforge.train.dictionary.DictionaryResult;
import org.saeforge.train.dictionary.DictionaryWriter;
import org.saeforge.train.dictionary.LabelVocabulary;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code sae dictionary}: per-feature statistics, top examples, modality scores, bridges, labels and an HTML browser. */
@Command(name = "dictionary", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Build a feature dictionary of a saved SAE in one streaming pass over activations.",
                "Writes DICT/dictionary.json, features.jsonl, sparsity.safetensors and index.html (a self-contained browser).",
                "Modality scores and co-firing lifts need row metadata (modality, source_id) with the data.",
                "Prints a JSON summary on the last line of stdout; progress goes to stderr."})
final class DictionaryCommand implements Callable<Integer> {
    private final Io io;

    DictionaryCommand(Io io) {
        this.io = io;
    }

    @Option(names = "--sae", required = true, paramLabel = "DIR", description = "SAELens or sparsify directory, or a `sae train` run directory.")
    Path sae;

    @Mixin
    DataOptions dataOptions;

    @Option(names = "--out", required = true, paramLabel = "DICT", description = "Dictionary folder to write (replaced if it is one).")
    Path out;

    @Option(names = "--top-n", paramLabel = "N", defaultValue = "20", description = "Top activating rows kept per feature (default ${DEFAULT-VALUE}).")
    int topN;

    @Option(names = "--max-rows", paramLabel = "N", converter = Counts.class, defaultValue = "0",
            description = "Read only the first N rows (default: all).")
    long maxRows;

    @Option(names = "--label-embeddings", paramLabel = "FILE",
            description = {"Text embeddings .npy [V, d_in] to label decoder directions with (needs --label-names).",
                    "Meaningful only for SAEs trained in the same joint embedding space (e.g. CLIP output embeddings)."})
    Path labelEmbeddings;

    @Option(names = "--label-names", paramLabel = "FILE", description = "UTF-8 text file, one name per embedding row.")
    Path labelNames;

    @Option(names = "--write-to-sae", description = "Also write dictionary.json, features.jsonl and sparsity.safetensors into the SAELens directory.")
    boolean writeToSae;

    @Option(names = "--image-only-threshold", paramLabel = "MU", defaultValue = "0.95",
            description = "Image energy share above which a feature is image-only (default ${DEFAULT-VALUE}).")
    double imageOnly;

    @Option(names = "--text-only-threshold", paramLabel = "MU", defaultValue = "0.05",
            description = "Image energy share below which a feature is text-only (default ${DEFAULT-VALUE}).")
    double textOnly;

    @Option(names = "--bridge-min-pairs", paramLabel = "N", defaultValue = "5",
            description = "Matched pairs a feature must co-fire on to be ranked as a bridge (default ${DEFAULT-VALUE}).")
    int bridgeMinPairs;

    @Option(names = "--bridge-memory-mb", paramLabel = "MB", defaultValue = "256",
            description = "Memory for paired-source co-firing sets; beyond it a uniform sample of sources is used (default ${DEFAULT-VALUE}).")
    long bridgeMemoryMb;

    @Option(names = "--html-examples", paramLabel = "N", defaultValue = "10",
            description = "Top examples per feature shown in index.html (default ${DEFAULT-VALUE}; features.jsonl keeps --top-n).")
    int htmlExamples;

    @Option(names = "--batch-size", paramLabel = "B", defaultValue = "4096", description = "Rows encoded at once (default ${DEFAULT-VALUE}).")
    int batchSize;

    @Option(names = "--on-bad-rows", paramLabel = "skip|fail", defaultValue = "skip",
            description = "Rows holding NaN or infinity: skip them (default, counted and reported) or fail.")
    String onBadRows;

    @Mixin
    DeviceOptions deviceOptions;

    @Override
    public Integer call() {
        if ((labelEmbeddings == null) != (labelNames == null)) {
            throw new SaeException("--label-embeddings and --label-names go together (embeddings .npy and one name per line)");
        }
        DictionaryConfig config = DictionaryConfig.defaults()
                .withTopN(topN)
                .withMaxRows(maxRows)
                .withBatchSize(batchSize)
                .withThresholds(imageOnly, textOnly)
                .withBridge(bridgeMemoryMb << 20, bridgeMinPairs, DictionaryConfig.defaults().topBridge())
                .withHtmlExamples(htmlExamples)
                .withBadRows(BadRowPolicy.fromCliName(onBadRows));
        SparseAutoencoder model = SparseAutoencoder.load(sae);
        DictionaryWriter.refuseToReplace(out);
        Path saeLensDir = writeToSae ? saeLensDir() : null;
        LabelVocabulary vocab = labelEmbeddings == null ? null : LabelVocabulary.load(labelEmbeddings, labelNames, model.dIn());
        RowProgress progress = new RowProgress(io.err(), "dictionary");
        try (ActivationSource source = dataOptions.open();
             Kernels kernels = KernelsFactory.create(deviceOptions.device(), deviceOptions.threads())) {
            DictionaryResult result = new DictionaryBuilder(config, kernels, progress).build(model, source, source.metadata(), vocab);
            progress.onInfo("writing " + out);
            DictionaryWriter.write(result, out);
            if (saeLensDir != null) {
                DictionaryWriter.writeIntoSaeLens(result, saeLensDir);
                io.err().println("dictionary files also written into " + saeLensDir);
            }
            io.err().println("open " + out.resolve("index.html").toAbsolutePath().toUri() + " in a browser");
            io.out().println(Json.compact(summaryLine(result.summaryJson())));
        }
        return 0;
    }

    private Path saeLensDir() {
        if (SaeLensFormat.looksLike(sae)) {
            return sae;
        }
        Path run = sae.resolve(Trainer.SAELENS_DIR);
        if (SaeLensFormat.looksLike(run)) {
            return run;
        }
        throw new SaeException(sae + ": --write-to-sae needs a SAELens directory (or a run directory holding saelens/)");
    }

    private ObjectNode summaryLine(ObjectNode summary) {
        ObjectNode o = Json.object();
        o.put("out", out.toString());
        o.put("d_sae", summary.path("sae").path("d_sae").asInt());
        o.setAll((ObjectNode) summary.get("metrics"));
        JsonNode xm = summary.get("cross_modal");
        if (xm != null) {
            o.set("image_only", xm.get("image_only"));
            o.set("text_only", xm.get("text_only"));
            o.set("shared", xm.get("shared"));
            if (xm.has("shared_energy_share")) {
                o.set("shared_energy_share", xm.get("shared_energy_share"));
            }
        }
        o.set("labels", summary.path("labels").path("method"));
        return o;
    }
}
