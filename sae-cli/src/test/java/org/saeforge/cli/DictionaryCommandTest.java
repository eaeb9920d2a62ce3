package org.saeforge.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.saeforge.core.data.NpyWriter;
import org.saeforge.core.io.FeatureDictionary;
import org.saeforge.core.io.Json;
import org.saeforge.core.io.SaeLensFormat;
import org.saeforge.core.model.Architecture;
import org.saeforge.core.model.SparseAutoencoder;
import org.saeforge.core.tensor.FloatMatrix;

class DictionaryCommandTest {
    @TempDir
    Path tmp;
    private Path sae;
    private Path data;

    @BeforeEach
    void setUp() {
        sae = tmp.resolve("run").resolve("saelens");
        SaeLensFormat.write(Cli.randomSae(Architecture.TOPK, 12, 40, 4, 5), sae, null);
        data = tmp.resolve("x.npy");
        NpyWriter.write(data, FloatMatrix.random(3000, 12, 6, 1f));
    }

    @Test
    void buildsTheFolderAndWritesIntoTheSaeLensDirectory() throws IOException {
        Path out = tmp.resolve("dict");
        Cli.Result r = Cli.run("dictionary", "--sae", tmp.resolve("run").toString(), "--data", data.toString(), "--out", out.toString(),
                "--top-n", "8", "--max-rows", "2500", "--write-to-sae", "--threads", "1");
        assertEquals(0, r.code(), r.err());
        JsonNode line = Json.mapper().readTree(r.lastLine());
        assertEquals(40, line.get("d_sae").asInt());
        assertEquals(2500, line.get("rows_evaluated").asLong());
        assertTrue(line.has("fvu") && line.has("l0"));
        for (String f : new String[] {"dictionary.json", "features.jsonl", "sparsity.safetensors", "index.html"}) {
            assertTrue(Files.isRegularFile(out.resolve(f)), f);
        }
        FeatureDictionary d = FeatureDictionary.load(out);
        assertEquals(40, d.numLatents());
        assertTrue(d.features().stream().allMatch(f -> f.topExamples().size() <= 8));
        assertTrue(d.features().stream().anyMatch(f -> f.topExamples().size() == 8));
        assertEquals(40, FeatureDictionary.load(sae).numLatents(), "also written into the SAELens directory");
        assertTrue(Files.isRegularFile(sae.resolve("sparsity.safetensors")));
        assertTrue(r.err().contains("index.html"), r.err());
    }

    @Test
    void labelsFromAVocabulary() throws IOException {
        Path vocab = tmp.resolve("vocab.npy");
        NpyWriter.write(vocab, FloatMatrix.random(9, 12, 8, 1f));
        List<String> names = new ArrayList<>();
        for (int i = 0; i < 9; i++) {
            names.add("word" + i);
        }
        Path txt = tmp.resolve("vocab.txt");
        Files.write(txt, names);
        Path out = tmp.resolve("dict");
        Cli.Result r = Cli.run("dictionary", "--sae", sae.toString(), "--data", data.toString(), "--out", out.toString(),
                "--label-embeddings", vocab.toString(), "--label-names", txt.toString(), "--device", "cpu-ref");
        assertEquals(0, r.code(), r.err());
        FeatureDictionary d = FeatureDictionary.load(out);
        assertEquals("embedding", d.summary().get("labels").get("method").asText());
        assertTrue(d.summary().get("labels").get("note").asText().contains("joint embedding space"));
        for (FeatureDictionary.Feature f : d.features()) {
            assertEquals("embedding", f.label().method());
            assertTrue(names.contains(f.label().text()));
            assertTrue(f.label().margin() >= 0 && f.label().score() <= 1.0 + 1e-6);
        }
    }

    private static void assertOneLineError(Cli.Result r, String... fragments) {
        assertEquals(2, r.code(), r.err());
        String err = r.err().strip();
        assertFalse(err.contains("\n"), "one line: " + err);
        assertFalse(err.contains("Exception"), "no stack trace: " + err);
        for (String f : fragments) {
            assertTrue(err.contains(f), "'" + f + "' in: " + err);
        }
    }

    @Test
    void badInputIsOneLine() throws IOException {
        Path out = tmp.resolve("dict");
        assertOneLineError(Cli.run("dictionary", "--sae", sae.toString(), "--data", data.toString(), "--out", out.toString(),
                "--label-embeddings", data.toString()), "--label-names");
        Path narrow = tmp.resolve("narrow.npy");
        NpyWriter.write(narrow, FloatMatrix.random(10, 7, 1, 1f));
        assertOneLineError(Cli.run("dictionary", "--sae", sae.toString(), "--data", narrow.toString(), "--out", out.toString()),
                "narrow.npy", "width 7", "d_in 12");
        assertOneLineError(Cli.run("dictionary", "--sae", tmp.resolve("nope").toString(), "--data", data.toString(), "--out", out.toString()),
                "nope", "no such SAE directory");
        Path busy = tmp.resolve("busy");
        Files.createDirectories(busy);
        Files.writeString(busy.resolve("paper.tex"), "draft");
        assertOneLineError(Cli.run("dictionary", "--sae", sae.toString(), "--data", data.toString(), "--out", busy.toString()),
                "busy", "not a dictionary folder");
        assertTrue(Files.exists(busy.resolve("paper.tex")));
        assertOneLineError(Cli.run("dictionary", "--sae", sae.toString(), "--data", data.toString(), "--out", out.toString(),
                "--image-only-threshold", "0.01"), "thresholds");
        assertOneLineError(Cli.run("dictionary", "--sae", tmp.resolve("run").toString(), "--data", data.toString(), "--out", out.toString(),
                "--on-bad-rows", "maybe"), "--on-bad-rows");
        Path sparsify = tmp.resolve("sparsify");
        org.saeforge.core.io.SparsifyFormat.write(SparseAutoencoder.load(sae), sparsify);
        assertOneLineError(Cli.run("dictionary", "--sae", sparsify.toString(), "--data", data.toString(), "--out", out.toString(),
                "--write-to-sae"), "--write-to-sae needs a SAELens directory");
    }
}
