package org.saeforge.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.saeforge.core.io.Json;
import org.saeforge.core.io.SaeLensFormat;
import org.saeforge.core.io.Safetensors;
import org.saeforge.core.io.SparsifyFormat;
import org.saeforge.core.model.Architecture;
import org.saeforge.core.model.SparseAutoencoder;

class ExportCommandTest {
    @TempDir
    Path tmp;

    @Test
    void roundTripThroughSparsifyKeepsWeightsAndSparsity() throws IOException {
        SparseAutoencoder sae = Cli.randomSae(Architecture.TOPK, 10, 30, 3, 1);
        float[] sparsity = new float[30];
        for (int j = 0; j < 30; j++) {
            sparsity[j] = -1f - j / 10f;
        }
        Path run = tmp.resolve("run");
        SaeLensFormat.write(sae, run.resolve("saelens"), sparsity);

        Path sp = tmp.resolve("sp");
        Cli.Result a = Cli.run("export", "--run", run.toString(), "--format", "sparsify", "--out", sp.toString());
        assertEquals(0, a.code(), a.err());
        assertTrue(SparsifyFormat.looksLike(sp));
        JsonNode line = Json.mapper().readTree(a.lastLine());
        assertEquals("sparsify", line.get("format").asText());
        assertEquals(30, line.get("d_sae").asInt());

        Path back = tmp.resolve("back");
        Cli.Result b = Cli.run("export", "--run", sp.toString(), "--format", "saelens", "--out", back.toString());
        assertEquals(0, b.code(), b.err());
        SparseAutoencoder reloaded = SparseAutoencoder.load(back);
        assertArrayEquals(sae.wEncT().data(), reloaded.wEncT().data());
        assertArrayEquals(sae.wDec().data(), reloaded.wDec().data());
        assertArrayEquals(sae.bEnc(), reloaded.bEnc());
        assertArrayEquals(sae.bDec(), reloaded.bDec());

        Path lens = tmp.resolve("lens");
        Cli.Result c = Cli.run("export", "--run", run.toString(), "--format", "saelens", "--out", lens.toString());
        assertEquals(0, c.code(), c.err());
        try (Safetensors.Reader r = Safetensors.open(lens.resolve("sparsity.safetensors"))) {
            assertArrayEquals(sparsity, r.readFloats("sparsity", 30), "sparsity carried over from the source");
        }
        Cli.Result again = Cli.run("export", "--run", run.toString(), "--format", "saelens", "--out", lens.toString());
        assertEquals(0, again.code(), "an earlier export is replaced: " + again.err());
    }

    @Test
    void refusals() throws IOException {
        Path lens = tmp.resolve("lens");
        SaeLensFormat.write(Cli.randomSae(Architecture.JUMPRELU, 8, 16, 0, 2), lens, null);
        Cli.Result r = Cli.run("export", "--run", lens.toString(), "--format", "sparsify", "--out", tmp.resolve("sp").toString());
        assertEquals(2, r.code());
        assertTrue(r.err().contains("TopK SAEs only"), r.err());

        r = Cli.run("export", "--run", lens.toString(), "--format", "onnx", "--out", tmp.resolve("x").toString());
        assertEquals(2, r.code());
        assertTrue(r.err().contains("--format must be saelens or sparsify"), r.err());

        Path busy = tmp.resolve("busy");
        Files.createDirectories(busy.resolve("checkpoints"));
        r = Cli.run("export", "--run", lens.toString(), "--format", "saelens", "--out", busy.toString());
        assertEquals(2, r.code());
        assertTrue(r.err().contains("not a SAE export"), r.err());
        assertTrue(Files.isDirectory(busy.resolve("checkpoints")));
    }
}
