package org.saeforge.core.testing;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;

/** Locates {@code ../shared/fixtures} relative to the repository root, whichever module directory tests run in. */
public final class Fixtures {
    private Fixtures() {
    }

    public static Path root() {
        Path dir = Paths.get("").toAbsolutePath();
        for (Path p = dir; p != null; p = p.getParent()) {
            Path candidate = p.resolve("../shared/fixtures").normalize();
            if (Files.isDirectory(candidate) && Files.isRegularFile(p.resolve("pom.xml"))
                    && !Files.isRegularFile(p.getParent() == null ? p : p.getParent().resolve("pom.xml"))) {
                return candidate;
            }
        }
        for (Path p = dir; p != null; p = p.getParent()) {
            Path candidate = p.resolve("shared/fixtures");
            if (Files.isDirectory(candidate)) {
                return candidate;
            }
        }
        throw new IllegalStateException("cannot find ../shared/fixtures from " + dir);
    }

    public static Path file(String relative) {
        return root().resolve(relative);
    }
}
