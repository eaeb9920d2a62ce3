package org.saeforge.core.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.saeforge.core.FileFormatException;
import org.saeforge.core.data.ActivationSources;
import org.saeforge.core.kernels.cpu.CpuKernels;
import org.saeforge.core.kernels.cpu.ReferenceKernels;
import org.saeforge.core.model.Architecture;
import org.saeforge.core.model.SparseAutoencoder;
import org.saeforge.core.tensor.FloatMatrix;
import org.saeforge.core.tensor.SparseCodes;
import org.saeforge.core.testing.Fixtures;
import org.saeforge.core.testing.NpyDoubles;
import org.saeforge.core.testing.TestData;

/**
 * SAELens and sparsify directories written by the Python tools: loading them and encoding {@code sae_inputs.npy} must
 * reproduce numpy's float64 outputs to relative error below 1e-5; our exports must load back bit-identically and be
 * byte-identical to what the Python safetensors library writes.
 */
class SaeFormatsTest {

    static double relError(float[] got, double[] expect) {
        double num = 0;
        double den = 0;
        for (int i = 0; i < expect.length; i++) {
            num += (got[i] - expect[i]) * (got[i] - expect[i]);
            den += expect[i] * expect[i];
        }
        return Math.sqrt(num / den);
    }

    private static void checkAgainstExpected(String dir, String prefix) throws IOException {
        SparseAutoencoder sae = SparseAutoencoder.load(Fixtures.file(dir));
        FloatMatrix x = ActivationSources.readMatrix(Fixtures.file("sae_inputs.npy"));
        double[] latents = NpyDoubles.read(Fixtures.file("expected_" + prefix + "_latents.npy"));
        double[] recon = NpyDoubles.read(Fixtures.file("expected_" + prefix + "_reconstruction.npy"));
        for (var kernels : new org.saeforge.core.kernels.Kernels[] {new ReferenceKernels(), new CpuKernels(2)}) {
            try (kernels) {
                SparseCodes codes = sae.encode(x, kernels);
                FloatMatrix dense = codes.toDense();
                assertTrue(relError(dense.data(), latents) < 1e-5, dir + " latents on " + kernels.name() + ": " + relError(dense.data(), latents));
                FloatMatrix xHat = sae.decode(codes, kernels);
                assertTrue(relError(xHat.data(), recon) < 1e-5, dir + " reconstruction: " + relError(xHat.data(), recon));
            }
        }
    }

    @Test
    void saeLensTopKReproducesPython() throws IOException {
        checkAgainstExpected("saelens_topk", "topk");
        SparseAutoencoder sae = SparseAutoencoder.load(Fixtures.file("saelens_topk"));
        assertEquals(Architecture.TOPK, sae.config().architecture());
        assertEquals(8, sae.config().k());
        assertEquals("fixture-clip", sae.config().metadata().get("model_name"));
    }

    @Test
    void saeLensJumpReluReproducesPython() throws IOException {
        checkAgainstExpected("saelens_jumprelu", "jumprelu");
    }

    @Test
    void sparsifyTopKReproducesPython() throws IOException {
        checkAgainstExpected("sparsify_topk", "topk");
    }

    @Test
    void safetensorsWriterIsByteIdenticalToPython() throws IOException {
        Path fixture = Fixtures.file("saelens_topk/sae_weights.safetensors");
        Map<String, Safetensors.Tensor> tensors = new java.util.LinkedHashMap<>();
        try (Safetensors.Reader r = Safetensors.open(fixture)) {
            for (Safetensors.TensorInfo t : r.tensors().values()) {
                tensors.put(t.name(), new Safetensors.Tensor(t.shape(), r.readFloats(t.name())));
            }
        }
        Path out = Files.createTempFile("st", ".safetensors");
        Safetensors.write(out, tensors, Map.of());
        assertArrayEquals(Files.readAllBytes(fixture), Files.readAllBytes(out));
        Files.delete(out);
    }

    @Test
    void exportLoadsBackIdenticallyInBothFormats(@TempDir Path tmp) {
        SparseAutoencoder sae = TestData.randomSae(Architecture.TOPK, 24, 72, 5, 9);
        SaeLensFormat.write(sae, tmp.resolve("lens"), new float[72]);
        SparsifyFormat.write(sae, tmp.resolve("sparsify"));
        FloatMatrix x = FloatMatrix.random(13, 24, 4, 1f);
        for (String d : new String[] {"lens", "sparsify"}) {
            SparseAutoencoder back = SparseAutoencoder.load(tmp.resolve(d));
            assertArrayEquals(sae.wEncT().data(), back.wEncT().data());
            assertArrayEquals(sae.wDec().data(), back.wDec().data());
            assertArrayEquals(sae.bEnc(), back.bEnc());
            assertArrayEquals(sae.bDec(), back.bDec());
            SparseCodes a = sae.encode(x);
            SparseCodes b = back.encode(x);
            assertArrayEquals(a.indices(), b.indices());
            assertArrayEquals(a.values(), b.values());
        }
        JsonNode cfg = Json.read(tmp.resolve("lens/cfg.json"));
        assertEquals("topk", cfg.get("architecture").asText());
        assertEquals(24, cfg.get("d_in").asInt());
        assertEquals(72, cfg.get("d_sae").asInt());
        assertEquals(5, cfg.get("k").asInt());
        assertEquals("none", cfg.get("normalize_activations").asText());
        assertFalse(cfg.get("rescale_acts_by_decoder_norm").asBoolean());
        assertEquals("6.0.0", cfg.get("metadata").get("sae_lens_version").asText());
        assertTrue(Files.isRegularFile(tmp.resolve("lens/sparsity.safetensors")));
        JsonNode sp = Json.read(tmp.resolve("sparsify/cfg.json"));
        assertEquals(72, sp.get("num_latents").asInt());
        assertEquals(3, sp.get("expansion_factor").asInt());
    }

    @Test
    void jumpReluExportKeepsThresholdAndRefusesSparsify(@TempDir Path tmp) {
        SparseAutoencoder sae = TestData.randomSae(Architecture.JUMPRELU, 16, 40, 0, 2);
        SaeLensFormat.write(sae, tmp.resolve("j"), null);
        SparseAutoencoder back = SparseAutoencoder.load(tmp.resolve("j"));
        assertArrayEquals(sae.threshold(), back.threshold());
        assertThrows(org.saeforge.core.SaeException.class, () -> SparsifyFormat.write(sae, tmp.resolve("s")));
    }

    @Test
    void exportReplacesAnExistingDirectoryAtomically(@TempDir Path tmp) throws IOException {
        Path dir = tmp.resolve("out");
        SaeLensFormat.write(TestData.randomSae(Architecture.TOPK, 8, 16, 2, 1), dir, null);
        SparseAutoencoder second = TestData.randomSae(Architecture.TOPK, 8, 16, 3, 2);
        SaeLensFormat.write(second, dir, null);
        assertEquals(3, SparseAutoencoder.load(dir).config().k());
        try (var files = Files.list(tmp)) {
            assertEquals(1, files.count(), "no temporary or old directories left behind");
        }
    }

    @Test
    void badSafetensorsGiveOneLineErrorsNamingTheFile() {
        for (String name : new String[] {"bad/truncated.safetensors", "bad/huge_header.safetensors"}) {
            Path p = Fixtures.file(name);
            FileFormatException e = assertThrows(FileFormatException.class, () -> Safetensors.open(p).close());
            assertTrue(e.getMessage().startsWith(p.toString()), e.getMessage());
            assertFalse(e.getMessage().contains("\n"));
        }
        FileFormatException trunc = assertThrows(FileFormatException.class, () -> Safetensors.open(Fixtures.file("bad/truncated.safetensors")));
        assertTrue(trunc.getMessage().contains("truncated"), trunc.getMessage());
        FileFormatException huge = assertThrows(FileFormatException.class, () -> Safetensors.open(Fixtures.file("bad/huge_header.safetensors")));
        assertTrue(huge.getMessage().contains("header length"), huge.getMessage());
    }

    @Test
    void loadingSomethingElseSaysWhatIsMissing(@TempDir Path tmp) throws IOException {
        FileFormatException e = assertThrows(FileFormatException.class, () -> SparseAutoencoder.load(tmp));
        assertTrue(e.getMessage().contains("not a SAE directory"), e.getMessage());
        Files.writeString(tmp.resolve("cfg.json"), "{\"architecture\": \"topk\"");
        Files.write(tmp.resolve("sae_weights.safetensors"), new byte[16]);
        FileFormatException bad = assertThrows(FileFormatException.class, () -> SparseAutoencoder.load(tmp));
        assertTrue(bad.getMessage().contains("cfg.json"), bad.getMessage());
    }
}
