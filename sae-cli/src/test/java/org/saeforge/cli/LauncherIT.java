package org.saeforge.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The {@code ./sae} launcher against the packaged jar (runs in the integration-test phase, after package). */
class LauncherIT {

    record Result(int code, String out) {
    }

    static Result sae(String... args) throws IOException, InterruptedException {
        Path script = Paths.get("").toAbsolutePath().getParent().resolve("sae");
        assertTrue(Files.isExecutable(script), script + " is executable");
        List<String> cmd = new ArrayList<>(List.of("bash", script.toString()));
        cmd.addAll(List.of(args));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(120, TimeUnit.SECONDS), "launcher finished");
        return new Result(p.exitValue(), out);
    }

    @Test
    void runsTheJarWithTheFlagsItNeeds(@TempDir Path tmp) throws Exception {
        Result v = sae("--version");
        assertEquals(0, v.code(), v.out());
        assertTrue(v.out().contains("SAEForge"), v.out());
        assertTrue(!v.out().contains("building the CLI"), "a fresh jar is not rebuilt: " + v.out());

        Result s = sae("synth", "--d-in", "8", "--num-features", "10", "--rows", "500", "--avg-active", "2", "--out", tmp.resolve("a.npy").toString(),
                "--truth-out", tmp.resolve("t.npy").toString());
        assertEquals(0, s.code(), s.out());
        assertTrue(Files.size(tmp.resolve("a.npy")) > 500 * 8 * 4);

        Result bad = sae("train", "--bogus");
        assertEquals(2, bad.code(), bad.out());
    }
}
