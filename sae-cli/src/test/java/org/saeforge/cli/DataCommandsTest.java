package org.saeforge.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.saeforge.core.data.DataFixtures;
import org.saeforge.core.io.Json;

/** inspect-data, convert, and train/eval reading every input kind; every bad fixture is a one-line error and exit 2. */
class DataCommandsTest {

    private static String fx(String name) {
        return DataFixtures.file(name).toString();
    }

    private static void assertOneLineError(CliRun r, String file, String problem) {
        assertEquals(2, r.code(), r.err());
        String[] lines = r.err().strip().split("\n");
        assertEquals(1, lines.length, r.err());
        assertTrue(lines[0].contains(file) && lines[0].contains(problem), lines[0]);
        assertTrue(!r.err().contains("Exception") && !r.err().contains("\tat "), r.err());
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiter = '|', value = {
            "truncated.npy|truncated",
            "not_npy.npy|not a .npy file",
            "int32.npy|<i4 is not supported",
            "fortran.npy|Fortran-order",
            "one_dim.npy|expected a 2-D",
            "truncated.h5|truncated",
            "no_float_dataset.h5|has no 2-D or 3-D float32/float16 dataset",
            "truncated.safetensors|truncated",
            "huge_header.safetensors|corrupt safetensors header length",
    })
    void badFilesExitTwoWithOneLine(String file, String problem, @TempDir Path dir) {
        assertOneLineError(CliRun.of("inspect-data", "--data", fx("bad/" + file)), file, problem);
        assertOneLineError(CliRun.of("train", "--data", fx("bad/" + file), "--num-latents", "16", "--k", "2", "--batch-size", "8",
                "--tokens", "64", "--out", dir.resolve("run").toString()), file, problem);
    }

    @Test
    void widthMismatchNamesBothFiles(@TempDir Path dir) {
        CliRun r = CliRun.of("train", "--data", fx("acts_f32.npy"), "--data", fx("bad/width_47.npy"), "--num-latents", "16", "--k", "2",
                "--batch-size", "8", "--tokens", "64", "--out", dir.resolve("run").toString());
        assertOneLineError(r, "width_47.npy", "d_in 47");
        assertTrue(r.err().contains("acts_f32.npy") && r.err().contains("d_in 48"), r.err());
        assertOneLineError(CliRun.of("inspect-data", "--data", fx("acts_f32.npy"), "--data", fx("bad/width_47.npy")), "width_47.npy", "47");
    }

    @Test
    void nanRowsAreReportedOrFatal(@TempDir Path dir) {
        CliRun r = CliRun.of("inspect-data", "--data", fx("bad/nan_rows.npy"), "--json");
        assertEquals(0, r.code(), r.err());
        JsonNode j = Json.read(write(dir, r.lastLine()));
        assertEquals(4, j.get("bad_rows").asInt());
        assertEquals("[3,50,77,200]", j.get("first_bad_rows").toString());
        CliRun fail = CliRun.of("train", "--data", fx("bad/nan_rows.npy"), "--on-bad-rows", "fail", "--num-latents", "16", "--k", "2",
                "--batch-size", "8", "--tokens", "64", "--out", dir.resolve("run").toString());
        assertOneLineError(fail, "nan_rows.npy", "NaN or infinity");
    }

    @Test
    void inspectDataReportsShapeModalityAndNorms(@TempDir Path dir) {
        CliRun r = CliRun.of("inspect-data", "--data", fx("acts.h5"), "--dataset", "/activations", "--json");
        assertEquals(0, r.code(), r.err());
        JsonNode j = Json.read(write(dir, r.lastLine()));
        assertEquals(257, j.get("rows").asInt());
        assertEquals(48, j.get("d_in").asInt());
        assertEquals("float32", j.get("dtype").asText());
        JsonNode m = j.get("rows_by_modality");
        assertEquals(257, m.get("image").asInt() + m.get("text").asInt());
        assertEquals(0, m.get("unknown").asInt());
        assertEquals(0, j.get("bad_rows").asInt());
        assertTrue(j.get("mean_norm").asDouble() > 0);
        assertEquals(4, j.get("metadata").size());
        // the same data as .npy with its CSV sidecar gives the same numbers
        CliRun r2 = CliRun.of("inspect-data", "--data", fx("acts_f32.npy"), "--json");
        JsonNode j2 = Json.read(write(dir, r2.lastLine()));
        assertEquals(j.get("mean_norm").asDouble(), j2.get("mean_norm").asDouble(), 0.0);
        assertEquals(j.get("rows_by_modality"), j2.get("rows_by_modality"));
        assertEquals(j.get("dims"), j2.get("dims"));
        CliRun text = CliRun.of("inspect-data", "--data", fx("acts.h5"), "--dataset", "/activations");
        assertEquals(0, text.code(), text.err());
        assertTrue(text.out().contains("257") && text.out().contains("image " + m.get("image").asInt()), text.out());
    }

    @Test
    void convertThenTrainAndEvalFromShards(@TempDir Path dir) {
        Path shards = dir.resolve("shards");
        CliRun c = CliRun.of("convert", "--data", fx("acts.h5"), "--dataset", "/chunked_gzip", "--out", shards.toString(), "--dtype", "float16");
        assertEquals(0, c.code(), c.err());
        assertTrue(Files.exists(shards.resolve("shards.json")));
        JsonNode cj = Json.read(write(dir, c.lastLine()));
        assertEquals(257, cj.get("rows").asInt());
        assertEquals("float16", cj.get("dtype").asText());
        assertTrue(cj.get("metadata").asBoolean());

        // refuses to overwrite a folder that is not a shard folder
        CliRun refuse = CliRun.of("convert", "--data", fx("acts_f32.npy"), "--out", dir.toString());
        assertEquals(2, refuse.code());
        assertTrue(refuse.err().contains("refusing"), refuse.err());

        Path run = dir.resolve("run");
        CliRun t = CliRun.of("train", "--data", shards.toString(), "--modality", "text", "--num-latents", "32", "--k", "4", "--batch-size",
                "16", "--tokens", "640", "--eval-rows", "24", "--out", run.toString(), "--threads", "1", "--max-norm-ratio", "5",
                "--normalize-activations");
        assertEquals(0, t.code(), t.err());
        JsonNode tj = Json.read(write(dir, t.lastLine()));
        assertTrue(tj.get("fvu").asDouble() < 1.5, t.lastLine());
        assertTrue(tj.has("activation_scale"), t.lastLine());
        assertTrue(t.err().contains("--max-norm-ratio 5.0"), t.err());
        assertTrue(Files.exists(run.resolve("saelens/sae_weights.safetensors")));

        CliRun e = CliRun.of("eval", "--sae", run.toString(), "--data", fx("acts.h5"), "--dataset", "/activations", "--data", fx("acts_f32.npy"),
                "--modality", "text", "--threads", "1");
        assertEquals(0, e.code(), e.err());
        JsonNode ej = Json.read(write(dir, e.lastLine()));
        assertEquals(2 * Json.read(write(dir, CliRun.of("inspect-data", "--data", fx("acts.h5"), "--dataset", "/activations", "--json")
                .lastLine())).get("rows_by_modality").get("text").asInt(), ej.get("rows_evaluated").asInt());
    }

    @Test
    void everyFixtureFormatTrains(@TempDir Path dir) {
        String[][] inputs = {
                {fx("acts_f16.npy")}, {fx("patches_3d.npy")}, {fx("acts.npz")}, {fx("acts.safetensors"), "--dataset", "acts_f16"},
                {fx("acts.h5"), "--dataset", "/layers/vision/patches"},
        };
        int i = 0;
        for (String[] in : inputs) {
            java.util.List<String> args = new java.util.ArrayList<>(java.util.List.of("train", "--data"));
            args.addAll(java.util.List.of(in));
            args.addAll(java.util.List.of("--num-latents", "32", "--k", "4", "--batch-size", "16", "--tokens", "160", "--threads", "1",
                    "--out", dir.resolve("run" + i++).toString()));
            CliRun r = CliRun.of(args.toArray(new String[0]));
            assertEquals(0, r.code(), String.join(" ", in) + ": " + r.err());
        }
    }

    private static Path write(Path dir, String text) {
        try {
            Path f = Files.createTempFile(dir, "out", ".json");
            Files.writeString(f, text);
            return f;
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }
}
