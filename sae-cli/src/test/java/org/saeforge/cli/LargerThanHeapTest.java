package org.saeforge.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.saeforge.core.data.NpyWriter;
import org.saeforge.core.io.Json;

/** {@code sae train} in a JVM with a 64 MB heap on a 300 MB file: the data streams through in bounded memory. */
class LargerThanHeapTest {
    private static final int ROWS = 300_000;
    private static final int D = 256;

    @Test
    void trainsOnAFileFiveTimesTheHeap(@TempDir Path dir) throws Exception {
        Path data = dir.resolve("big.npy");
        SplittableRandom rnd = new SplittableRandom(3);
        float[] block = new float[4096 * D];
        try (NpyWriter.Stream out = NpyWriter.stream(data, ROWS, D)) {
            for (int done = 0; done < ROWS; done += 4096) {
                int n = Math.min(4096, ROWS - done);
                for (int i = 0; i < n * D; i++) {
                    // sparse-ish signal: a few strong coordinates per row plus noise
                    block[i] = (float) (rnd.nextDouble() < 0.03 ? rnd.nextGaussian() * 4 : rnd.nextGaussian() * 0.1);
                }
                out.append(block, 0, n);
            }
            out.commit();
        }
        long heap = 64L << 20;
        assertTrue(Files.size(data) > 4 * heap, "file " + Files.size(data) + " bytes");

        String java = ProcessHandle.current().info().command().orElse("java");
        String cp = System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
        List<String> cmd = new ArrayList<>(List.of(java, "-Xmx64m", "--add-modules", "jdk.incubator.vector", "-cp", cp,
                "org.saeforge.cli.SaeCli", "train", "--data", data.toString(), "--num-latents", "256", "--k", "16", "--batch-size", "512",
                "--tokens", "300k", "--eval-rows", "4096", "--out", dir.resolve("run").toString()));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(false).start();
        byte[] stdout = p.getInputStream().readAllBytes();
        String stderr = new String(p.getErrorStream().readAllBytes());
        assertTrue(p.waitFor(5, TimeUnit.MINUTES), "train did not finish");
        assertEquals(0, p.exitValue(), stderr);
        String[] lines = new String(stdout).strip().split("\n");
        JsonNode result = Json.mapper().readTree(lines[lines.length - 1]);
        assertEquals(585 * 512, result.get("tokens").asLong());
        double fvu = result.get("fvu").asDouble();
        assertTrue(fvu > 0 && fvu < 0.9, "fvu " + fvu + "\n" + stderr);
    }
}
