package org.saeforge.core.kernels.cuda;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/** Locates sae-core's source folders whether tests run from the module (Maven) or the repository root (run.sh). */
final class SourceFiles {
    private SourceFiles() {
    }

    /** {@code sae-core/src/main/cuda}. */
    static Path cudaSources() {
        for (Path p : List.of(Path.of("src/main/cuda"), Path.of("sae-core/src/main/cuda"))) {
            if (Files.isDirectory(p)) {
                return p;
            }
        }
        throw new IllegalStateException("cannot find sae-core/src/main/cuda from " + Path.of("").toAbsolutePath());
    }
}
