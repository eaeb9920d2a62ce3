package org.saeforge.core.io;

import java.nio.file.Files;
import java.nio.file.Path;
import org.saeforge.core.FileFormatException;
import org.saeforge.core.model.SparseAutoencoder;

/** Detects and loads a saved SAE: a SAELens or sparsify directory, or a training run directory holding {@code saelens/}. */
public final class SaeFiles {
    private SaeFiles() {
    }

    public static SparseAutoencoder load(Path dir) {
        if (!Files.exists(dir)) {
            throw new FileFormatException(dir, "no such SAE directory");
        }
        if (!Files.isDirectory(dir)) {
            throw new FileFormatException(dir, "expected a SAE directory (SAELens or sparsify), got a file");
        }
        if (SaeLensFormat.looksLike(dir)) {
            return SaeLensFormat.load(dir);
        }
        if (SparsifyFormat.looksLike(dir)) {
            return SparsifyFormat.load(dir);
        }
        Path run = dir.resolve("saelens");
        if (SaeLensFormat.looksLike(run)) {
            return SaeLensFormat.load(run);
        }
        throw new FileFormatException(dir, "not a SAE directory: expected cfg.json with sae_weights.safetensors (SAELens) "
                + "or sae.safetensors (sparsify)");
    }
}
