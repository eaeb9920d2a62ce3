package org.saeforge.train.dictionary;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.Iterator;
import java.util.List;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.saeforge.core.FileFormatException;
import org.saeforge.core.SaeException;
import org.saeforge.core.io.FeatureDictionary;
import org.saeforge.core.io.FeatureDictionary.Feature;
import org.saeforge.core.io.Json;
import org.saeforge.core.io.SaeFiles;
import org.saeforge.core.io.SaeLensFormat;
import org.saeforge.core.io.Safetensors;

/** The written folder against FORMATS.md, read back with {@link FeatureDictionary#load}. */
class DictionaryWriterTest {
    private static final Set<String> FEATURE_KEYS = Set.of("id", "density", "mean_activation", "max_activation", "decoder_norm", "modality",
            "bridge", "top_examples", "nearest", "label", "activation_histogram");
    private static final Set<String> MODALITY_KEYS = Set.of("image_rate", "text_rate", "image_energy", "text_energy", "image_share", "text_share");
    private static final Set<String> BRIDGE_KEYS = Set.of("paired_cofire", "random_cofire", "lift");
    private static final Set<String> EXAMPLE_KEYS = Set.of("row", "activation", "source_id", "modality", "position", "label");
    private static final Set<String> LABEL_KEYS = Set.of("text", "score", "margin", "method");

    @TempDir
    Path tmp;

    private static Set<String> keys(JsonNode o) {
        Set<String> s = new HashSet<>();
        for (Iterator<String> it = o.fieldNames(); it.hasNext(); ) {
            s.add(it.next());
        }
        return s;
    }

    @Test
    void writtenFolderFollowsTheSchemaAndLoadsBack() throws IOException {
        DictionaryResult result = SampleDictionary.build(SampleDictionary.source());
        Path dir = tmp.resolve("dict");
        DictionaryWriter.write(result, dir);

        List<String> lines = Files.readAllLines(dir.resolve("features.jsonl"), StandardCharsets.UTF_8);
        assertEquals(SampleDictionary.N, lines.size());
        int fullLines = 0;
        for (int j = 0; j < lines.size(); j++) {
            JsonNode o = Json.mapper().readTree(lines.get(j));
            assertEquals(j, o.get("id").asInt());
            assertTrue(FEATURE_KEYS.containsAll(keys(o)), "unexpected keys " + keys(o));
            if (o.get("density").asDouble() > 0 && o.has("label")) {
                fullLines++;
                assertEquals(FEATURE_KEYS, keys(o), "a firing latent with all inputs present has every field");
                assertEquals(MODALITY_KEYS, keys(o.get("modality")));
                assertTrue(BRIDGE_KEYS.containsAll(keys(o.get("bridge"))));
                assertEquals(LABEL_KEYS, keys(o.get("label")));
                for (JsonNode e : o.get("top_examples")) {
                    assertEquals(EXAMPLE_KEYS, keys(e));
                }
                assertEquals(5, o.get("nearest").size());
                assertEquals(Set.of("id", "cosine"), keys(o.get("nearest").get(0)));
            }
        }
        assertTrue(fullLines > SampleDictionary.N / 2, "most latents fire: " + fullLines);

        JsonNode summary = Json.read(dir.resolve("dictionary.json"));
        assertEquals("saeforge-dictionary", summary.get("format").asText());
        assertEquals(1, summary.get("version").asInt());
        assertEquals(Set.of("architecture", "d_in", "d_sae", "k", "weights_sha256"), keys(summary.get("sae")));
        assertEquals(64, summary.get("sae").get("weights_sha256").asText().length());
        assertTrue(keys(summary.get("data")).containsAll(Set.of("path", "rows", "rows_by_modality")));
        assertTrue(keys(summary.get("metrics")).containsAll(Set.of("fvu", "mse", "l0", "dead_fraction", "dense_fraction", "rows_evaluated")));
        assertTrue(keys(summary.get("cross_modal")).containsAll(
                Set.of("image_only", "text_only", "shared", "shared_energy_share", "thresholds", "top_bridge")));
        long histTotal = summary.get("density_histogram").get("dead").asLong();
        for (JsonNode c : summary.get("density_histogram").get("counts")) {
            histTotal += c.asLong();
        }
        assertEquals(SampleDictionary.N, histTotal);

        FeatureDictionary loaded = FeatureDictionary.load(dir);
        assertEquals(SampleDictionary.N, loaded.numLatents());
        for (int j = 0; j < SampleDictionary.N; j++) {
            Feature want = result.feature(j);
            Feature got = loaded.feature(j);
            assertEquals(want.id(), got.id());
            assertEquals(want.density(), got.density(), 0);
            assertEquals(want.meanActivation(), got.meanActivation(), 0);
            assertEquals((float) want.maxActivation(), (float) got.maxActivation(), 0f);
            assertEquals((float) want.decoderNorm(), (float) got.decoderNorm(), 0f);
            assertEquals(want.modality(), got.modality());
            assertEquals(want.bridge(), got.bridge());
            assertEquals(want.label(), got.label());
            assertEquals(want.topExamples().size(), got.topExamples().size());
            for (int e = 0; e < want.topExamples().size(); e++) {
                var a = want.topExamples().get(e);
                var b = got.topExamples().get(e);
                assertEquals(a.row(), b.row());
                assertEquals((float) a.activation(), (float) b.activation(), 0f);
                assertEquals(a.sourceId(), b.sourceId());
                assertEquals(a.modality(), b.modality());
                assertEquals(a.position(), b.position());
                assertEquals(a.label(), b.label());
            }
            assertEquals(want.nearest().size(), got.nearest().size());
            for (int t = 0; t < want.nearest().size(); t++) {
                assertEquals(want.nearest().get(t).id(), got.nearest().get(t).id());
            }
            if (want.activationHistogram() != null) {
                assertArrayEquals(want.activationHistogram().counts(), got.activationHistogram().counts());
            }
        }

        try (Safetensors.Reader r = Safetensors.open(dir.resolve("sparsity.safetensors"))) {
            assertArrayEquals(result.log10Density(), r.readFloats("sparsity", SampleDictionary.N));
        }
    }

    @Test
    void htmlIsSelfContainedAndCannotBeBrokenByLabels() throws IOException {
        Path dir = tmp.resolve("dict");
        DictionaryWriter.write(SampleDictionary.build(SampleDictionary.source()), dir);
        String html = Files.readString(dir.resolve("index.html"), StandardCharsets.UTF_8);
        for (String external : new String[] {"<script src", "<link", "@import", "url(", "src=\"http", "href=\"http", "fetch(", "XMLHttpRequest",
                "<iframe", "<img"}) {
            assertFalse(html.contains(external), "index.html must not load anything: found " + external);
        }
        Matcher m = Pattern.compile("</script>").matcher(html);
        int closings = 0;
        while (m.find()) {
            closings++;
        }
        assertEquals(2, closings, "labels holding </script> must be escaped inside the data block");
        assertTrue(html.contains("caption: thing"), "labels are embedded");
        assertFalse(html.contains("__SAEFORGE_DATA__"));
    }

    @Test
    void writesIntoSaeLensDirectoryToo() throws IOException {
        DictionaryResult result = SampleDictionary.build(SampleDictionary.source());
        Path sae = tmp.resolve("saelens");
        SaeLensFormat.write(SampleDictionary.sae(), sae, null);
        DictionaryWriter.writeIntoSaeLens(result, sae);
        assertTrue(Files.isRegularFile(sae.resolve("sparsity.safetensors")));
        assertEquals(SampleDictionary.N, FeatureDictionary.load(sae).numLatents());
        var reloaded = SaeFiles.load(sae);
        assertArrayEquals(SampleDictionary.sae().wDec().data(), reloaded.wDec().data(), "the weights are untouched");
        assertArrayEquals(SampleDictionary.sae().wEncT().data(), reloaded.wEncT().data());

        SaeException notSaeLens = assertThrows(SaeException.class, () -> DictionaryWriter.writeIntoSaeLens(result, tmp));
        assertTrue(notSaeLens.getMessage().contains("not a SAELens directory"), notSaeLens.getMessage());
        SaeException intoWeights = assertThrows(SaeException.class, () -> DictionaryWriter.write(result, sae));
        assertTrue(intoWeights.getMessage().contains("holds SAE weights"), intoWeights.getMessage());
    }

    @Test
    void replacesOnlyDictionaryFolders() throws IOException {
        DictionaryResult result = SampleDictionary.build(SampleDictionary.source());
        Path dir = tmp.resolve("dict");
        DictionaryWriter.write(result, dir);
        Files.writeString(dir.resolve("stale.txt"), "old");
        DictionaryWriter.write(result, dir);
        assertFalse(Files.exists(dir.resolve("stale.txt")), "an existing dictionary folder is replaced whole");

        Path other = tmp.resolve("other");
        Files.createDirectories(other);
        Files.writeString(other.resolve("notes.txt"), "keep me");
        SaeException e = assertThrows(SaeException.class, () -> DictionaryWriter.write(result, other));
        assertTrue(e.getMessage().contains("not a dictionary folder"), e.getMessage());
        assertEquals("keep me", Files.readString(other.resolve("notes.txt")));
    }

    @Test
    void loaderRejectsDamagedDictionaries() throws IOException {
        Path dir = tmp.resolve("dict");
        DictionaryWriter.write(SampleDictionary.build(SampleDictionary.source()), dir);
        Path features = dir.resolve("features.jsonl");
        List<String> lines = Files.readAllLines(features);

        Files.write(features, lines.subList(0, lines.size() - 1));
        FileFormatException truncated = assertThrows(FileFormatException.class, () -> FeatureDictionary.load(dir));
        assertTrue(truncated.getMessage().contains("holds 63 features") && truncated.getMessage().contains("d_sae 64"), truncated.getMessage());

        List<String> broken = new java.util.ArrayList<>(lines);
        broken.set(4, broken.get(4).substring(0, 40));
        Files.write(features, broken);
        FileFormatException badJson = assertThrows(FileFormatException.class, () -> FeatureDictionary.load(dir));
        assertTrue(badJson.getMessage().contains("features.jsonl") && badJson.getMessage().contains("line 5"), badJson.getMessage());

        List<String> swapped = new java.util.ArrayList<>(lines);
        swapped.set(2, lines.get(3));
        swapped.set(3, lines.get(2));
        Files.write(features, swapped);
        FileFormatException order = assertThrows(FileFormatException.class, () -> FeatureDictionary.load(dir));
        assertTrue(order.getMessage().contains("line 3") && order.getMessage().contains("feature id 3"), order.getMessage());

        Files.writeString(dir.resolve("dictionary.json"), "{\"format\": \"something-else\", \"version\": 1}");
        FileFormatException format = assertThrows(FileFormatException.class, () -> FeatureDictionary.load(dir));
        assertTrue(format.getMessage().contains("not a feature dictionary"), format.getMessage());
        assertNotNull(format.file());
    }
}
