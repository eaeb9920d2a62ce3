package org.saeforge.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.saeforge.core.io.AtomicFiles;
import org.saeforge.core.io.Json;

/** sae train for every architecture, sweeps, --config, config.json and sae resume, through the command line. */
class TrainCommandTest {
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
    }

    static List<String> base(Path out, String... more) {
        List<String> a = new ArrayList<>(List.of("train", "--data", acts.toString(), "--batch-size", "256", "--tokens", "40k",
                "--out", out.toString(), "--threads", "2", "--lr", "3e-3"));
        a.addAll(List.of(more));
        return a;
    }

    static CliRun run(List<String> args) {
        return CliRun.of(args.toArray(new String[0]));
    }

    @ParameterizedTest
    @ValueSource(strings = {"topk", "batchtopk", "jumprelu", "relu", "matryoshka"})
    void everyArchitectureTrainsExportsAndEvaluates(String arch) throws IOException {
        Path run = tmp.resolve("arch-" + arch);
        List<String> args = base(run, "--architecture", arch, "--num-latents", "64");
        if (!arch.equals("relu")) {
            args.addAll(List.of("--k", "3"));
        } else {
            args.addAll(List.of("--l1-coef", "1"));
        }
        CliRun r = run(args);
        assertEquals(0, r.code(), r.toString());
        JsonNode m = SaeCliTest.parse(r.lastLine());
        assertTrue(m.get("fvu").asDouble() < 0.8, r.lastLine());
        JsonNode cfg = Json.read(run.resolve("saelens/cfg.json"));
        String expected = switch (arch) {
            case "topk" -> "topk";
            case "relu" -> "standard";
            default -> "jumprelu";
        };
        assertEquals(expected, cfg.get("architecture").asText());
        CliRun e = CliRun.of("eval", "--sae", run.toString(), "--data", acts.toString(), "--truth", truth.toString());
        assertEquals(0, e.code(), e.toString());
        JsonNode em = SaeCliTest.parse(e.lastLine());
        assertEquals(expected.equals("standard") ? "relu" : expected, em.get("architecture").asText());
        assertTrue(em.get("fvu").asDouble() < 0.8, e.lastLine());
        JsonNode saved = Json.read(run.resolve(TrainCommand.CONFIG_FILE));
        assertEquals(arch, saved.get("architecture").get(0).asText());
        assertEquals(arch.equals("jumprelu") || arch.equals("relu"), Json.read(run.resolve("run.json")).get("config")
                .get("normalize_activations").asBoolean(), "normalization defaults on for jumprelu and relu");
        if (arch.equals("relu")) {
            assertEquals(4.0 / 256, Json.read(run.resolve("run.json")).get("config").get("effective").get("l1_relief").asDouble(),
                    "the default relief: 1/1024, at least 4 rows of the 256-row batch");
        }
    }

    @Test
    void sweepTrainsEveryCombinationInOnePass() throws IOException {
        Path run = tmp.resolve("sweep");
        CliRun r = run(base(run, "--num-latents", "32,64", "--k", "2,3"));
        assertEquals(0, r.code(), r.toString());
        JsonNode all = SaeCliTest.parse(r.lastLine());
        assertEquals(4, all.get("saes").size(), r.lastLine());
        for (String name : new String[] {"topk-n32-k2", "topk-n32-k3", "topk-n64-k2", "topk-n64-k3"}) {
            assertTrue(Files.isRegularFile(run.resolve(name).resolve("saelens/sae_weights.safetensors")), name);
            assertTrue(Files.readAllLines(run.resolve(name).resolve("metrics.jsonl")).size() > 10, name);
            JsonNode info = Json.read(run.resolve(name).resolve("run.json"));
            assertTrue(info.get("metrics").get("rows_evaluated").asLong() > 0, name);
        }
        assertEquals(4, Json.read(run.resolve("sweep.json")).get("saes").size());
    }

    @Test
    void configFileSetsEverythingAndFlagsOverrideIt() throws IOException {
        Path run = tmp.resolve("from-config");
        Path cfgDir = tmp.resolve("cfgdir");
        Files.createDirectories(cfgDir);
        Files.copy(acts, cfgDir.resolve("acts.npy"));
        Path cfg = cfgDir.resolve("run.json");
        Files.writeString(cfg, "{\"data\": [\"acts.npy\"], \"num-latents\": 48, \"k\": 4, \"batch-size\": 128, \"tokens\": \"20k\","
                + " \"lr\": 0.002, \"threads\": 2, \"normalize-activations\": true, \"out\": \"ignored-out\"}");
        CliRun r = CliRun.of("train", "--config", cfg.toString(), "--k", "2", "--out", run.toString());
        assertEquals(0, r.code(), r.toString());
        JsonNode saved = Json.read(run.resolve(TrainCommand.CONFIG_FILE));
        assertEquals(48, saved.get("num-latents").get(0).asInt(), "from the file");
        assertEquals(2, saved.get("k").get(0).asInt(), "the flag overrides the file");
        assertEquals(128, saved.get("batch-size").asInt());
        assertTrue(saved.get("normalize-activations").asBoolean());
        assertEquals(cfgDir.resolve("acts.npy").toAbsolutePath().toString(), saved.get("data").get(0).asText(),
                "relative paths resolve against the file's folder and are saved absolute");
        assertFalse(Files.exists(cfgDir.resolve("ignored-out")));
        JsonNode info = Json.read(run.resolve("run.json")).get("config");
        assertEquals(2, info.get("k").asInt());
        assertEquals(0.002, info.get("lr").asDouble());

        // the saved config.json reproduces the run exactly
        Path again = tmp.resolve("from-saved-config");
        CliRun r2 = CliRun.of("train", "--config", run.resolve(TrainCommand.CONFIG_FILE).toString(), "--out", again.toString());
        assertEquals(0, r2.code(), r2.toString());
        assertArrayEquals(Files.readAllBytes(run.resolve("saelens/sae_weights.safetensors")),
                Files.readAllBytes(again.resolve("saelens/sae_weights.safetensors")));
    }

    @Test
    void badConfigFilesGiveOneLineErrors() throws IOException {
        Path cfg = tmp.resolve("bad.json");
        Files.writeString(cfg, "{\"num-latents\": 32, \"kk\": 2}");
        SaeCliTest.assertOneLineError(CliRun.of("train", "--config", cfg.toString(), "--data", acts.toString(), "--tokens", "1k",
                "--out", tmp.resolve("x").toString()), 2, "bad.json", "kk");
        Files.writeString(cfg, "{\"num-latents\": 32, \"k\": 2, \"lr\": \"fast\"}");
        SaeCliTest.assertOneLineError(CliRun.of("train", "--config", cfg.toString(), "--data", acts.toString(), "--tokens", "1k",
                "--out", tmp.resolve("x").toString()), 2, "bad.json", "fast");
        Files.writeString(cfg, "[1, 2]");
        SaeCliTest.assertOneLineError(CliRun.of("train", "--config", cfg.toString()), 2, "bad.json");
        SaeCliTest.assertOneLineError(CliRun.of("train", "--config", tmp.resolve("none.json").toString()), 2, "none.json");
    }

    @Test
    void unsupportedCombinationsAreRefusedClearly() {
        SaeCliTest.assertOneLineError(run(base(tmp.resolve("c1"), "--architecture", "jumprelu", "--num-latents", "32", "--k", "2",
                "--device", "cuda")), 2, "jumprelu", "--device cuda");
        SaeCliTest.assertOneLineError(run(base(tmp.resolve("c2"), "--architecture", "relu", "--num-latents", "32", "--k", "2")), 2,
                "--k", "relu");
        SaeCliTest.assertOneLineError(run(base(tmp.resolve("c3"), "--architecture", "batchtopk", "--num-latents", "32")), 2,
                "--k is required");
        SaeCliTest.assertOneLineError(run(base(tmp.resolve("c4"), "--architecture", "dense", "--num-latents", "32", "--k", "2")), 2,
                "dense");
        SaeCliTest.assertOneLineError(CliRun.of("resume", tmp.resolve("no-run").toString()), 2, "config.json");
        SaeCliTest.assertOneLineError(run(base(tmp.resolve("c5"), "--architecture", "topk", "--num-latents", "32", "--k", "2",
                "--l1-relief", "0.01")), 2, "--l1-relief", "relu");
        SaeCliTest.assertOneLineError(run(base(tmp.resolve("c6"), "--architecture", "relu", "--num-latents", "32",
                "--l1-relief", "2")), 2, "--l1-relief", "[0, 1]");
        SaeCliTest.assertOneLineError(run(base(tmp.resolve("c7"), "--architecture", "topk", "--num-latents", "32", "--k", "2",
                "--lazy-adam")), 2, "--lazy-adam", "relu");
        SaeCliTest.assertOneLineError(run(base(tmp.resolve("c8"), "--architecture", "batchtopk", "--num-latents", "32", "--k", "2",
                "--dedup-every", "10k")), 2, "--dedup-every", "topk only");
        SaeCliTest.assertOneLineError(run(base(tmp.resolve("c9"), "--architecture", "topk", "--num-latents", "32", "--k", "2",
                "--dedup-every", "10k", "--device", "cuda")), 2, "--dedup-every", "cuda");
        SaeCliTest.assertOneLineError(run(base(tmp.resolve("c10"), "--architecture", "topk", "--num-latents", "32", "--k", "2",
                "--dedup-every", "-3")), 2, "--dedup-every");
    }

    @Test
    void resumeFinishesAnInterruptedRunBitIdentically() throws IOException {
        Path run = tmp.resolve("resumable");
        CliRun r = run(base(run, "--architecture", "batchtopk", "--num-latents", "48", "--k", "3", "--checkpoint-every", "5k",
                "--keep-checkpoints", "3"));
        assertEquals(0, r.code(), r.toString());
        byte[] weights = Files.readAllBytes(run.resolve("saelens/sae_weights.safetensors"));
        List<String> metrics = Files.readAllLines(run.resolve("metrics.jsonl"));
        List<String> steps;
        try (var s = Files.list(run.resolve("checkpoints"))) {
            steps = s.map(p -> p.getFileName().toString()).sorted((a, b) -> Integer.parseInt(a.substring(5)) - Integer.parseInt(b.substring(5)))
                    .toList();
        }
        assertEquals(List.of("step-118", "step-137", "step-156"), steps, "every 5k rows and at the end, the newest 3 kept");
        // back to the state after the last periodic checkpoint: what a crash before the end leaves behind
        AtomicFiles.deleteRecursively(run.resolve("checkpoints/step-156"));
        AtomicFiles.deleteRecursively(run.resolve("saelens"));
        Files.delete(run.resolve("run.json"));

        CliRun resumed = CliRun.of("resume", run.toString());
        assertEquals(0, resumed.code(), resumed.toString());
        assertTrue(resumed.err().contains("resuming from"), resumed.err());
        assertArrayEquals(weights, Files.readAllBytes(run.resolve("saelens/sae_weights.safetensors")));
        List<String> again = Files.readAllLines(run.resolve("metrics.jsonl"));
        assertEquals(metrics.size(), again.size());
        assertEquals(SaeCliTest.parse(metrics.get(metrics.size() - 1)).get("fvu"), SaeCliTest.parse(again.get(again.size() - 1)).get("fvu"));
    }

    @Test
    void resumeMovesTheRestOfTheRunToAnotherBackend() throws IOException {
        Path run = tmp.resolve("moved");
        CliRun r = run(base(run, "--num-latents", "48", "--k", "3", "--checkpoint-every", "20k", "--gemm-precision", "tf32"));
        assertEquals(0, r.code(), r.toString());
        assertEquals("tf32", SaeCliTest.parse(Files.readString(run.resolve("config.json"))).path("gemm-precision").asText());
        double fvu = lastLine(r).path("fvu").asDouble();
        // The final JSON's window dead fraction is the tracker's at the last step, over the effective dead window.
        List<String> logged = Files.readAllLines(run.resolve("metrics.jsonl"));
        assertEquals(SaeCliTest.parse(logged.get(logged.size() - 1)).path("dead_fraction").asDouble(),
                lastLine(r).path("dead_fraction_window").asDouble(-1));
        assertEquals(SaeCliTest.parse(Files.readString(run.resolve("run.json"))).path("config").path("effective").path("dead_after").asLong(),
                lastLine(r).path("dead_window_rows").asLong(-1));
        AtomicFiles.deleteRecursively(run.resolve("checkpoints/step-156"));
        AtomicFiles.deleteRecursively(run.resolve("saelens"));
        CliRun resumed = CliRun.of("resume", run.toString(), "--device", "cpu-ref", "--threads", "1");
        assertEquals(0, resumed.code(), resumed.toString());
        assertTrue(resumed.err().contains("backend cpu-ref") && resumed.err().contains("resuming from"), resumed.err());
        double again = lastLine(resumed).path("fvu").asDouble();
        assertTrue(Math.abs(again - fvu) < 0.01 * fvu, "finished on cpu-ref: FVU " + again + " vs " + fvu);
        SaeCliTest.assertOneLineError(CliRun.of("resume", run.toString(), "--device", "tpu"), 2, "unknown device 'tpu'");
    }

    @Test
    void aBadGemmPrecisionIsRefused() {
        SaeCliTest.assertOneLineError(run(base(tmp.resolve("p1"), "--num-latents", "32", "--k", "2", "--gemm-precision", "fp8")), 2,
                "GEMM precision 'fp8'");
    }

    @Test
    void autoTrainsOnTheCpuWithoutAGpu() {
        try (var k = org.saeforge.core.kernels.KernelsFactory.create(org.saeforge.core.kernels.Device.CUDA, 1)) {
            Assumptions.abort("this machine has a GPU: " + k.name());
        } catch (org.saeforge.core.kernels.cuda.CudaUnavailableException e) {
            // no GPU: auto must train on the CPU
        }
        CliRun r = run(base(tmp.resolve("auto"), "--num-latents", "32", "--k", "2", "--device", "auto"));
        assertEquals(0, r.code(), r.toString());
        assertTrue(lastLine(r).path("backend").asText().startsWith("cpu/"), r.out());
    }

    private static com.fasterxml.jackson.databind.JsonNode lastLine(CliRun r) {
        String[] lines = r.out().strip().split("\n");
        return SaeCliTest.parse(lines[lines.length - 1]);
    }
}
