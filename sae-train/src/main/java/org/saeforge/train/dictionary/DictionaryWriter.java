package org.saeforge.train.dictionary;

import java.io.BufferedWriter;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.saeforge.core.SaeException;
import org.saeforge.core.io.AtomicFiles;
import org.saeforge.core.io.FeatureDictionary;
import org.saeforge.core.io.Json;
import org.saeforge.core.io.SaeLensFormat;
import org.saeforge.core.io.Safetensors;
import org.saeforge.core.io.SparsifyFormat;

/**
 * Writes a {@link DictionaryResult}: the dictionary folder ({@code dictionary.json}, {@code features.jsonl},
 * {@code sparsity.safetensors}, {@code index.html}) as one atomic directory replacement, and optionally the first
 * three files into a SAELens directory, each atomically.
 */
public final class DictionaryWriter {
    private DictionaryWriter() {
    }

    /**
     * Writes the dictionary folder. An existing folder is replaced only when it is a dictionary folder (or empty), so a
     * mistyped {@code --out} cannot wipe a SAE or anything else.
     */
    public static void write(DictionaryResult result, Path dir) {
        refuseToReplace(dir);
        AtomicFiles.writeDirectory(dir, tmp -> {
            Files.writeString(tmp.resolve(FeatureDictionary.SUMMARY_FILE), Json.pretty(result.summaryJson()) + "\n", StandardCharsets.UTF_8);
            writeFeatures(result, tmp.resolve(FeatureDictionary.FEATURES_FILE));
            writeSparsity(result, tmp.resolve(FeatureDictionary.SPARSITY_FILE));
            DictionaryHtml.write(result, tmp.resolve(FeatureDictionary.HTML_FILE));
        });
    }

    /** Writes dictionary.json, features.jsonl and sparsity.safetensors into an existing SAELens directory. */
    public static void writeIntoSaeLens(DictionaryResult result, Path saeLensDir) {
        if (!SaeLensFormat.looksLike(saeLensDir)) {
            throw new SaeException(saeLensDir + ": not a SAELens directory (cfg.json and " + SaeLensFormat.WEIGHTS + " expected)");
        }
        AtomicFiles.writeString(saeLensDir.resolve(FeatureDictionary.SUMMARY_FILE), Json.pretty(result.summaryJson()) + "\n");
        AtomicFiles.write(saeLensDir.resolve(FeatureDictionary.FEATURES_FILE), tmp -> writeFeatures(result, tmp));
        writeSparsity(result, saeLensDir.resolve(SaeLensFormat.SPARSITY));
    }

    /**
     * Fails unless {@code dir} may receive a dictionary: absent, empty, or an earlier dictionary folder (call before a
     * long build so that a bad {@code --out} fails at once).
     */
    public static void refuseToReplace(Path dir) {
        if (!Files.exists(dir)) {
            return;
        }
        if (!Files.isDirectory(dir)) {
            throw new SaeException(dir + ": exists and is a file; --out needs a folder path");
        }
        if (SaeLensFormat.looksLike(dir) || SparsifyFormat.looksLike(dir)) {
            throw new SaeException(dir + ": holds SAE weights; write the dictionary to its own folder (use --write-to-sae to add the "
                    + "dictionary files to a SAELens directory)");
        }
        try (var entries = Files.list(dir)) {
            if (entries.findAny().isPresent() && !Files.isRegularFile(dir.resolve(FeatureDictionary.SUMMARY_FILE))) {
                throw new SaeException(dir + ": exists, is not empty and is not a dictionary folder; choose another --out");
            }
        } catch (IOException e) {
            throw new SaeException(dir + ": cannot list (" + e.getMessage() + ")", e);
        }
    }

    private static void writeFeatures(DictionaryResult result, Path file) throws IOException {
        try (BufferedWriter w = Files.newBufferedWriter(file, StandardCharsets.UTF_8)) {
            for (int j = 0; j < result.numLatents(); j++) {
                w.write(Json.compact(result.feature(j).toJson()));
                w.write('\n');
            }
        }
    }

    private static void writeSparsity(DictionaryResult result, Path file) {
        Safetensors.write(file, Map.of("sparsity", Safetensors.Tensor.of(result.log10Density(), result.numLatents())), Map.of());
    }
}
