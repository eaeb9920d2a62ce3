package org.saeforge.core.data;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Files;
import java.nio.file.Path;
import org.saeforge.core.io.Json;

/** Locates the shared fixtures ({@code ../shared/fixtures} beside the repository) for tests of every module. */
public final class DataFixtures {
    private DataFixtures() {
    }

    /** The fixtures folder, found from the working directory upwards. */
    public static Path dir() {
        for (Path p = Path.of("").toAbsolutePath(); p != null; p = p.getParent()) {
            Path f = p.resolve("shared").resolve("fixtures");
            if (Files.isDirectory(f)) {
                return f;
            }
        }
        throw new IllegalStateException("shared/fixtures not found above " + Path.of("").toAbsolutePath());
    }

    public static Path file(String name) {
        return dir().resolve(name);
    }

    public static JsonNode expected() {
        return Json.read(file("expected.json"));
    }
}
