package org.saeforge.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.saeforge.core.io.Json;
import org.saeforge.core.testing.Fixtures;

/** The command line as scripts use it: exit codes, one-line errors, JSON on the last line of stdout. */
class SaeCliTest {
    @TempDir
    static Path tmp;
    static Path acts;
    static Path truth;

    @BeforeAll
    static void synth() {
        acts = tmp.resolve("acts.npy");
        truth = tmp.resolve("truth.npy");
        CliRun r = CliRun.of("synth", "--d-in", "16", "--num-features", "40", "--rows", "12k", "--avg-active", "3",
                "--seed", "2", "--out", acts.toString(), "--truth-out", truth.toString());
        assertEquals(0, r.code(), r.toString());
        JsonNode j = parse(r.lastLine());
        assertEquals(12_000, j.get("rows").asLong());
        assertTrue(Files.isRegularFile(acts) && Files.isRegularFile(truth));
    }

    static JsonNode parse(String line) {
        try {
            return Json.mapper().readTree(line);
        } catch (Exception e) {
            throw new AssertionError("not JSON: " + line, e);
        }
    }

    /** A user-facing error: non-zero exit, exactly one line on stderr, no stack trace. */
    static void assertOneLineError(CliRun r, int code, String... mustContain) {
        assertEquals(code, r.code(), r.toString());
        String err = r.err().strip();
        assertFalse(err.contains("\n"), "one line only: " + err);
        assertFalse(err.contains("Exception") || err.contains("\tat "), "no stack trace: " + err);
        for (String s : mustContain) {
            assertTrue(err.contains(s), "stderr should contain '" + s + "': " + err);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"train", "resume", "eval", "dictionary", "export", "encode", "inspect-data", "convert", "synth", "quickstart"})
    void everyCommandHasHelp(String cmd) {
        // picocli reports a description it cannot format (a bare '%') on the process's stderr, not on the command's
        PrintStream processErr = System.err;
        ByteArrayOutputStream warnings = new ByteArrayOutputStream();
        CliRun r;
        try {
            System.setErr(new PrintStream(warnings, true, StandardCharsets.UTF_8));
            r = CliRun.of(cmd, "--help");
        } finally {
            System.setErr(processErr);
        }
        assertEquals(0, r.code());
        assertTrue(r.out().contains("Usage: sae " + cmd), r.out());
        String w = warnings.toString(StandardCharsets.UTF_8);
        assertFalse(w.contains("picocli WARN"), "help text of " + cmd + " is not a valid format string: " + w);
    }

    @Test
    void trainEvalRoundTripPrintsMetricsJson() {
        Path run = tmp.resolve("run");
        CliRun r = CliRun.of("train", "--data", acts.toString(), "--num-latents", "64", "--k", "3", "--batch-size", "256",
                "--tokens", "60k", "--out", run.toString(), "--threads", "2", "--lr", "3e-3", "--truth", truth.toString());
        assertEquals(0, r.code(), r.toString());
        JsonNode m = parse(r.lastLine());
        for (String f : new String[] {"fvu", "mse", "l0", "dead_fraction", "tokens", "rows_per_sec", "mmcs", "recovered_fraction"}) {
            assertTrue(m.has(f), "missing " + f + " in " + r.lastLine());
        }
        assertTrue(m.get("fvu").asDouble() < 0.6, r.lastLine());
        assertEquals(60_000 / 256 * 256, m.get("tokens").asLong());
        assertTrue(r.err().contains("step "), "progress lines on stderr when not a terminal: " + r.err());
        assertTrue(Files.isRegularFile(run.resolve("saelens/cfg.json")));

        CliRun e = CliRun.of("eval", "--sae", run.toString(), "--data", acts.toString(), "--truth", truth.toString());
        assertEquals(0, e.code(), e.toString());
        JsonNode em = parse(e.lastLine());
        assertEquals(12_000, em.get("rows_evaluated").asLong());
        assertEquals(64, em.get("num_latents").asInt());
        assertTrue(em.get("fvu").asDouble() < 0.6);
    }

    @Test
    void evalReadsPythonWrittenSaes() {
        for (String dir : new String[] {"saelens_topk", "saelens_jumprelu", "sparsify_topk"}) {
            CliRun r = CliRun.of("eval", "--sae", Fixtures.file(dir).toString(), "--data", Fixtures.file("acts_f32.npy").toString());
            assertEquals(0, r.code(), r.toString());
            JsonNode m = parse(r.lastLine());
            assertEquals(257, m.get("rows_evaluated").asLong());
            assertEquals(192, m.get("num_latents").asInt());
        }
    }

    @Test
    void badFlagsExitTwoWithOneLine() {
        assertOneLineError(CliRun.of("train", "--bogus"), 2, "--bogus");
        assertOneLineError(CliRun.of("train", "--data", acts.toString(), "--num-latents", "abc", "--k", "2", "--tokens", "1k", "--out",
                tmp.resolve("x").toString()), 2, "abc");
        assertOneLineError(CliRun.of("train", "--data", acts.toString(), "--num-latents", "32", "--k", "64", "--tokens", "10k",
                "--out", tmp.resolve("x").toString()), 2, "--k");
        assertOneLineError(CliRun.of("train", "--data", acts.toString(), "--num-latents", "32", "--k", "2", "--tokens", "lots",
                "--out", tmp.resolve("x").toString()), 2, "lots");
        assertOneLineError(CliRun.of("train", "--data", acts.toString(), "--num-latents", "32", "--k", "2", "--tokens", "10k",
                "--device", "tpu", "--out", tmp.resolve("x").toString()), 2, "tpu");
        assertOneLineError(CliRun.of("frobnicate"), 2, "frobnicate");
        assertOneLineError(CliRun.of(), 2, "missing command");
    }

    @ParameterizedTest
    @ValueSource(strings = {"truncated.npy", "not_npy.npy", "int32.npy", "fortran.npy", "one_dim.npy"})
    void badActivationFilesExitTwoNamingTheFile(String name) {
        Path bad = Fixtures.file("bad/" + name);
        CliRun r = CliRun.of("train", "--data", bad.toString(), "--num-latents", "32", "--k", "2", "--batch-size", "8",
                "--tokens", "64", "--out", tmp.resolve("bad-" + name).toString());
        assertOneLineError(r, 2, name);
    }

    @Test
    void widthMismatchAndMissingFiles() {
        assertOneLineError(CliRun.of("eval", "--sae", Fixtures.file("saelens_topk").toString(), "--data",
                Fixtures.file("bad/width_47.npy").toString()), 2, "width_47.npy", "47", "48");
        assertOneLineError(CliRun.of("eval", "--sae", tmp.resolve("nowhere").toString(), "--data", acts.toString()), 2, "nowhere");
        assertOneLineError(CliRun.of("train", "--data", tmp.resolve("missing.npy").toString(), "--num-latents", "8", "--k", "2",
                "--tokens", "1k", "--batch-size", "8", "--out", tmp.resolve("m").toString()), 2, "missing.npy", "not found");
        assertOneLineError(CliRun.of("train", "--data", acts.toString(), "--num-latents", "8", "--k", "2", "--tokens", "1k",
                "--batch-size", "8", "--out", tmp.resolve("t").toString(), "--truth", Fixtures.file("acts_f32.npy").toString()), 2, "--truth", "48");
    }

    @Test
    void nanRowsAreReportedOrFatal() {
        Path nan = Fixtures.file("bad/nan_rows.npy");
        CliRun skip = CliRun.of("train", "--data", nan.toString(), "--num-latents", "32", "--k", "2", "--batch-size", "32",
                "--tokens", "320", "--out", tmp.resolve("nan").toString(), "--eval-rows", "0");
        assertEquals(0, skip.code(), skip.toString());
        assertTrue(skip.err().contains("skipped 4 training rows"), skip.err());
        CliRun fail = CliRun.of("train", "--data", nan.toString(), "--num-latents", "32", "--k", "2", "--batch-size", "32",
                "--tokens", "320", "--out", tmp.resolve("nan2").toString(), "--on-bad-rows", "fail");
        assertOneLineError(fail, 2, "nan_rows.npy", "row 3");
    }

    @Test
    void quickstartRunsEndToEnd() {
        Path out = tmp.resolve("qs");
        CliRun r = CliRun.of("quickstart", "--out", out.toString(), "--threads", "2");
        assertEquals(0, r.code(), r.toString());
        JsonNode m = parse(r.lastLine());
        assertTrue(m.get("fvu").asDouble() < 0.35, r.lastLine());
        assertTrue(m.get("test_fvu").asDouble() < 0.35, r.lastLine());
        assertTrue(Files.isRegularFile(out.resolve("run/saelens/sae_weights.safetensors")));
        assertTrue(Files.isRegularFile(out.resolve("sparsify/sae.safetensors")));
        assertTrue(r.err().contains("files:"), r.err());
    }
}
