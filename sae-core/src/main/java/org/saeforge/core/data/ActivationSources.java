package org.saeforge.core.data;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import org.saeforge.core.FileFormatException;
import org.saeforge.core.tensor.FloatMatrix;

/** Opens an activation file by its extension. */
public final class ActivationSources {
    private ActivationSources() {
    }

    public static ActivationSource open(Path path) {
        if (!Files.exists(path)) {
            throw new FileFormatException(path, "file not found");
        }
        String name = path.getFileName().toString().toLowerCase(Locale.ROOT);
        if (name.endsWith(".npy")) {
            return NpySource.open(path);
        }
        throw new FileFormatException(path, "unsupported activation file type (expected .npy)");
    }

    /** Reads a whole (small) 2-D float file into memory, e.g. a ground-truth dictionary. */
    public static FloatMatrix readMatrix(Path path) {
        try (ActivationSource s = open(path)) {
            if ((long) s.numRows() * s.dIn() > Integer.MAX_VALUE - 8) {
                throw new FileFormatException(path, "too large to load into memory (" + s.numRows() + " x " + s.dIn() + ")");
            }
            FloatMatrix m = new FloatMatrix((int) s.numRows(), s.dIn());
            s.readRows(0, (int) s.numRows(), m.data(), 0);
            return m;
        }
    }
}
