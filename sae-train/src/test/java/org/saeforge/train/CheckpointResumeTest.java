package org.saeforge.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.File;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.saeforge.core.SaeException;
import org.saeforge.core.data.ActivationSource;
import org.saeforge.core.data.ActivationSources;
import org.saeforge.core.kernels.Device;
import org.saeforge.core.model.Architecture;
import org.saeforge.core.model.SparseAutoencoder;
import org.saeforge.train.synth.SyntheticData;

/**
 * Exact resume: a run interrupted after a checkpoint and resumed ends with bit-identical weights to an uninterrupted
 * run with the same seed, for every architecture (with k annealing, sparsity warm-up, BatchTopK thresholds, JumpReLU
 * log-thresholds, AuxK and the streaming shuffle buffer in play), for a sweep, and for a separate JVM killed with
 * SIGKILL. Also: a sweep gives each SAE exactly what a single run would.
 */
class CheckpointResumeTest {
    @TempDir
    static Path tmp;
    static Path data;

    @BeforeAll
    static void makeData() {
        data = tmp.resolve("acts.npy");
        new SyntheticData(24, 64, 3, 5).write(data, 12_000);
    }

    /**
     * A short run that exercises every piece of state: streaming batches (the buffer holds a quarter of the data), a
     * dead window short enough for AuxK, k annealing, and checkpoints every 3 steps.
     */
    static TrainConfig config(Architecture arch) {
        TrainConfig.Builder b = new TrainConfig.Builder().architecture(arch).numLatents(96).k(arch == Architecture.RELU ? 0 : 3)
                .batchSize(256).tokens(256 * 20).evalRows(1000).bufferBytes(3000L * 24 * 4).device(Device.CPU).threads(2)
                .deadAfter(1024).checkpointEvery(3 * 256).keepCheckpoints(2).lr(3e-3).warmupSteps(2).logEvery(1)
                .normalizeActivations(arch == Architecture.RELU || arch == Architecture.JUMPRELU);
        if (arch.usesK() || arch.batchSelection()) {
            b.kStart(8).kAnneal(0.3);
        }
        if (arch == Architecture.TOPK) {
            b.dedupEvery(2 * 256); // duplicate checks every 2 steps up to step 15, across the crash at step 8
        }
        if (arch == Architecture.RELU) {
            b.l1Relief(0.05); // 12.8 rows of a 256-row batch (the default, 1/1024, relieves nothing at this batch)
        }
        if (arch == Architecture.JUMPRELU) {
            b.initThreshold(0.01);
        }
        return b.build();
    }

    /** Thrown by the listener to stop a run the way a crash would (after the state on disk was written). */
    static final class Crash extends RuntimeException {
        Crash() {
            super("simulated crash");
        }
    }

    static TrainListener crashAt(long crashStep) {
        return new TrainListener() {
            @Override
            public void onMembersStep(long step, long tokens, double lr, List<String> names, List<StepStats> stats, double rps) {
                if (step == crashStep) {
                    throw new Crash();
                }
            }
        };
    }

    static List<SparseAutoencoder> saes(List<TrainResult> results) {
        return results.stream().map(TrainResult::sae).toList();
    }

    @ParameterizedTest
    @EnumSource(Architecture.class)
    void resumedRunEqualsUninterruptedRun(Architecture arch) throws Exception {
        TrainConfig c = config(arch);
        Path whole = tmp.resolve("whole-" + arch.cliName());
        Path cut = tmp.resolve("cut-" + arch.cliName());
        try (ActivationSource src = ActivationSources.open(data)) {
            assertFalse(new org.saeforge.core.data.BatchStream(src, org.saeforge.core.data.HeldOutSplit.create(src.numRows(), 1000, 0), 0,
                    org.saeforge.core.data.BatchStream.Options.of(c.bufferBytes(), c.badRows())).inMemory(), "streaming mode is tested");
            SparseAutoencoder expected = new Trainer(c, null).train(src, whole, null, Map.of()).sae();
            assertThrows(Crash.class, () -> new Trainer(c, crashAt(8)).train(src, cut, null, Map.of()));
            assertEquals(List.of(3L, 6L), Checkpoint.stepsIn(cut.resolve(Checkpoint.DIR)), "the last two checkpoints are kept");
            SparseAutoencoder resumed = new Trainer(c, null).resume(src, cut, null, Map.of()).get(0).sae();
            assertTrue(expected.sameWeights(resumed), arch + ": resumed weights differ from the uninterrupted run's");
        }
        List<String> a = Files.readAllLines(whole.resolve(Trainer.METRICS_FILE));
        List<String> b = Files.readAllLines(cut.resolve(Trainer.METRICS_FILE));
        assertEquals(a.size(), b.size(), "the resumed metrics log has each step once");
        for (int i = 0; i < a.size(); i++) {
            assertEquals(a.get(i).replaceAll(",\"rows_per_sec\":[0-9.]+", ""), b.get(i).replaceAll(",\"rows_per_sec\":[0-9.]+", ""),
                    "metrics line " + i);
        }
        assertEquals(List.of(18L, 20L), Checkpoint.stepsIn(cut.resolve(Checkpoint.DIR)), "periodic and final checkpoints");
    }

    /** The TopK run of {@link #resumedRunEqualsUninterruptedRun} restarts duplicates, before and after its crash. */
    @Test
    void theTopKRunThatResumesExactlyRestartsDuplicates() {
        List<String> infos = new ArrayList<>();
        TrainListener listener = new TrainListener() {
            @Override
            public void onInfo(String message) {
                infos.add(message);
            }
        };
        try (ActivationSource src = ActivationSources.open(data)) {
            new Trainer(config(Architecture.TOPK), listener).train(src, null, null, Map.of());
        }
        String line = infos.stream().filter(m -> m.contains("duplicate latents")).findFirst().orElse("none in " + infos);
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("restarted (\\d+) duplicate latents").matcher(line);
        assertTrue(m.find() && Integer.parseInt(m.group(1)) > 0, line);
    }

    @Test
    void sweepGivesEachSaeWhatASingleRunWouldAndResumesExactly() {
        List<TrainConfig> sweep = List.of(config(Architecture.TOPK), config(Architecture.BATCH_TOPK),
                config(Architecture.TOPK).toBuilder().numLatents(48).build());
        Path whole = tmp.resolve("sweep-whole");
        Path cut = tmp.resolve("sweep-cut");
        try (ActivationSource src = ActivationSources.open(data)) {
            List<SparseAutoencoder> together = saes(new Trainer(sweep, null).trainAll(src, whole, null, Map.of()));
            for (int i = 0; i < sweep.size(); i++) {
                SparseAutoencoder alone = new Trainer(sweep.get(i), null).train(src, null, null, Map.of()).sae();
                assertTrue(alone.sameWeights(together.get(i)), "SAE " + i + " of the sweep equals its single run");
            }
            assertThrows(Crash.class, () -> new Trainer(sweep, crashAt(5)).trainAll(src, cut, null, Map.of()));
            List<SparseAutoencoder> resumed = saes(new Trainer(sweep, null).resume(src, cut, null, Map.of()));
            for (int i = 0; i < sweep.size(); i++) {
                assertTrue(together.get(i).sameWeights(resumed.get(i)), "SAE " + i + " after resume");
            }
        }
        List<String> names = Trainer.memberNames(sweep);
        assertEquals(List.of("topk-n96-k3", "batchtopk-n96-k3", "topk-n48-k3"), names);
        for (String n : names) {
            assertTrue(Files.isRegularFile(whole.resolve(n).resolve("saelens/cfg.json")), n);
            assertTrue(Files.isRegularFile(whole.resolve(n).resolve(Trainer.METRICS_FILE)), n);
        }
        assertTrue(Files.isRegularFile(whole.resolve(Trainer.SWEEP_FILE)));
    }

    /**
     * A run started by a version whose default warm-up was another (here 0.3 of the run) resumes with that warm-up, not
     * with this version's: the checkpoint's configuration says "default" (-1) and records what it resolved to.
     */
    @Test
    void aResumedRunKeepsTheSparsityWarmupItStartedWith() throws Exception {
        TrainConfig now = config(Architecture.RELU);
        TrainConfig then = now.toBuilder().sparsityWarmup(0.3).build();
        assertTrue(now.effectiveSparsityWarmup() != 0.3, "this version's default differs from the saved one");
        Path whole = tmp.resolve("warmup-whole");
        Path cut = tmp.resolve("warmup-cut");
        List<String> infos = new ArrayList<>();
        TrainListener listenThenCrash = collectInfoThenCrashAt14(infos);
        try (ActivationSource src = ActivationSources.open(data)) {
            SparseAutoencoder expected = new Trainer(then, null).train(src, whole, null, Map.of()).sae();
            assertThrows(Crash.class, () -> new Trainer(then, crashAt(8)).train(src, cut, null, Map.of()));
            // make the checkpoint look like one written with the default left as "auto" by a version whose default was 0.3
            editCheckpointConfig(cut, cfg -> {
                cfg.put("sparsity_warmup", -1.0);
                assertEquals(0.3, cfg.path("effective").path("sparsity_warmup").asDouble(), "the checkpoint records the resolved warm-up");
            });
            // resumed, crashed again after its own checkpoint at step 12, and resumed once more
            assertThrows(Crash.class, () -> new Trainer(now, listenThenCrash).resume(src, cut, null, Map.of()));
            assertEquals(List.of(9L, 12L), Checkpoint.stepsIn(cut.resolve(Checkpoint.DIR)));
            SparseAutoencoder resumed = new Trainer(now, null).resume(src, cut, null, Map.of()).get(0).sae();
            assertTrue(expected.sameWeights(resumed), "the resumed run kept the warm-up it started with");
            SaeException other = assertThrows(SaeException.class,
                    () -> new Trainer(now.toBuilder().sparsityWarmup(0.5).build(), null).resume(src, cut, null, Map.of()));
            assertTrue(other.getMessage().contains("differs"), "an explicit other warm-up is refused: " + other.getMessage());
        }
        assertTrue(infos.stream().anyMatch(m -> m.contains("resuming with the values the run started with")
                && m.contains("sparsity warm-up 0.3 of the run (default now")), infos.toString());
    }

    /**
     * A run whose checkpoint was written by a version that resolved every "auto" value differently (learning rate, LR
     * warm-up, dead window, revival window, k at step 0) resumes with the recorded values, says so in one line, and
     * ends bit-identical to an uninterrupted run with those values, also across a second resume.
     */
    @Test
    void aResumedRunKeepsEveryAutoValueItStartedWith() throws Exception {
        TrainConfig now = config(Architecture.TOPK).toBuilder().lr(Double.NaN).warmupSteps(-1).deadAfter(-1).kStart(-1).build();
        TrainConfig then = now.toBuilder().lr(now.effectiveLr() * 0.7).warmupSteps(now.effectiveWarmupSteps() + 3)
                .deadAfter(now.effectiveDeadAfter() + 512).reviveAfter(now.effectiveReviveAfter() * 2).kStart(now.k() + 2).build();
        assertTrue(then.effectiveKStart() != now.effectiveKStart() && then.effectiveReviveAfter() != now.effectiveReviveAfter()
                && then.effectiveWarmupSteps() != now.effectiveWarmupSteps(), "every value differs");
        Path whole = tmp.resolve("auto-whole");
        Path cut = tmp.resolve("auto-cut");
        List<String> infos = new ArrayList<>();
        TrainListener listenThenCrash = collectInfoThenCrashAt14(infos);
        try (ActivationSource src = ActivationSources.open(data)) {
            SparseAutoencoder expected = new Trainer(then, null).train(src, whole, null, Map.of()).sae();
            assertThrows(Crash.class, () -> new Trainer(then, crashAt(8)).train(src, cut, null, Map.of()));
            // make the checkpoint look like one written with every value left "auto" by a version whose defaults were then's
            editCheckpointConfig(cut, cfg -> {
                cfg.putNull("lr");
                cfg.put("warmup_steps", -1);
                cfg.put("dead_after", -1);
                cfg.put("revive_after", -1);
                cfg.put("k_start", -1);
                assertEquals(then.effectiveLr(), cfg.path("effective").path("lr").asDouble(), "the checkpoint records the resolved rate");
            });
            assertThrows(Crash.class, () -> new Trainer(now, listenThenCrash).resume(src, cut, null, Map.of()));
            Trainer resuming = new Trainer(now, null);
            SparseAutoencoder resumed = resuming.resume(src, cut, null, Map.of()).get(0).sae();
            assertTrue(expected.sameWeights(resumed), "the resumed run kept every value it started with");
            // the trainer that resumed keeps its own configuration: a fresh run with it uses this version's defaults
            assertTrue(new Trainer(now, null).train(src, tmp.resolve("auto-fresh-a"), null, Map.of()).sae()
                    .sameWeights(resuming.train(src, tmp.resolve("auto-fresh-b"), null, Map.of()).sae()), "no recorded value kept after the resume");
            SaeException other = assertThrows(SaeException.class,
                    () -> new Trainer(now.toBuilder().lr(then.effectiveLr() * 2).build(), null).resume(src, cut, null, Map.of()));
            assertTrue(other.getMessage().contains("differs"), "an explicit other rate is refused: " + other.getMessage());
        }
        List<String> lines = infos.stream().filter(m -> m.contains("resuming with the values the run started with")).toList();
        assertEquals(1, lines.size(), infos.toString());
        for (String what : List.of("learning rate", "LR warm-up", "dead window", "revival window", "k at step 0")) {
            assertTrue(lines.get(0).contains(what), what + " in: " + lines.get(0));
        }
    }

    @Test
    void aSameVersionResumeNamesNoDefault() {
        TrainConfig c = config(Architecture.TOPK).toBuilder().lr(Double.NaN).warmupSteps(-1).deadAfter(-1).kStart(-1).build();
        List<String> differing = new ArrayList<>();
        TrainConfig pinned = Trainer.pinRecordedAutoValues(c, c.toJson().path("effective"), differing);
        assertEquals(List.of(), differing);
        assertEquals(c.effectiveLr(), pinned.effectiveLr());
        assertEquals(c.effectiveWarmupSteps(), pinned.effectiveWarmupSteps());
        assertEquals(c.effectiveDeadAfter(), pinned.effectiveDeadAfter());
        assertEquals(c.effectiveReviveAfter(), pinned.effectiveReviveAfter());
        assertEquals(c.effectiveKStart(), pinned.effectiveKStart());
        assertEquals(c.effectiveSparsityWarmup(), pinned.effectiveSparsityWarmup());
        assertTrue(c.sameTraining(c), "sanity");
        // a checkpoint from before the effective record: nothing is pinned but the learning-rate race, which such a run did not have
        assertEquals(c.toBuilder().lrRace(false).build(),
                Trainer.pinRecordedAutoValues(c, com.fasterxml.jackson.databind.node.MissingNode.getInstance(), differing));
        assertEquals(List.of(), differing);
    }

    /**
     * A run that leaves the held-out size to the default resumes with the size its checkpoint records; a checkpoint from
     * before that record (the default was then 1% of the rows) resumes with 1%. Either way it ends bit-identical to the
     * uninterrupted run.
     */
    @Test
    void aResumedRunKeepsItsHeldOutRows() throws Exception {
        TrainConfig now = config(Architecture.TOPK).toBuilder().evalRows(-1).build();
        long rows = 12_000;
        assertEquals(600, org.saeforge.core.data.HeldOutSplit.defaultEvalRows(rows));
        assertEquals(120, org.saeforge.core.data.HeldOutSplit.legacyDefaultEvalRows(rows));
        TrainConfig then = now.toBuilder().evalRows(120).build();
        try (ActivationSource src = ActivationSources.open(data)) {
            SparseAutoencoder expectedNow = new Trainer(now, null).train(src, tmp.resolve("held-whole"), null, Map.of()).sae();
            Path cutNow = tmp.resolve("held-cut");
            assertThrows(Crash.class, () -> new Trainer(now, crashAt(8)).train(src, cutNow, null, Map.of()));
            editCheckpointState(cutNow, root -> assertEquals(600, root.path("held_out_rows").asLong(), "the checkpoint records the size"));
            assertTrue(expectedNow.sameWeights(new Trainer(now, null).resume(src, cutNow, null, Map.of()).get(0).sae()),
                    "resumed with the recorded held-out size");

            SparseAutoencoder expectedThen = new Trainer(then, null).train(src, tmp.resolve("held-old-whole"), null, Map.of()).sae();
            assertFalse(expectedThen.sameWeights(expectedNow), "the two held-out sizes train differently");
            Path cutThen = tmp.resolve("held-old-cut");
            assertThrows(Crash.class, () -> new Trainer(then, crashAt(8)).train(src, cutThen, null, Map.of()));
            // make the checkpoint look like one from a version that left the size "auto" and did not record it
            editCheckpointState(cutThen, root -> {
                root.remove("held_out_rows");
                ((com.fasterxml.jackson.databind.node.ObjectNode) root.path("members").get(0).path("config")).put("eval_rows", -1);
            });
            assertTrue(expectedThen.sameWeights(new Trainer(now, null).resume(src, cutThen, null, Map.of()).get(0).sae()),
                    "a checkpoint without the record resumes with the old default");
        }
    }

    /** A listener that keeps the info lines and crashes the run at step 14. */
    private static TrainListener collectInfoThenCrashAt14(List<String> infos) {
        return new TrainListener() {
            @Override
            public void onInfo(String message) {
                infos.add(message);
            }

            @Override
            public void onMembersStep(long step, long tokens, double lr, List<String> names, List<StepStats> stats, double rps) {
                if (step == 14) {
                    throw new Crash();
                }
            }
        };
    }

    /** Rewrites the configuration of the first SAE in the latest checkpoint of {@code run}. */
    private static void editCheckpointConfig(Path run, java.util.function.Consumer<com.fasterxml.jackson.databind.node.ObjectNode> edit)
            throws java.io.IOException {
        editCheckpointState(run, root -> edit.accept((com.fasterxml.jackson.databind.node.ObjectNode) root.path("members").get(0).path("config")));
    }

    /** Rewrites the state file of the latest checkpoint of {@code run}. */
    private static void editCheckpointState(Path run, java.util.function.Consumer<com.fasterxml.jackson.databind.node.ObjectNode> edit)
            throws java.io.IOException {
        Path state = Checkpoint.latest(run).resolve(Checkpoint.STATE);
        com.fasterxml.jackson.databind.ObjectMapper json = new com.fasterxml.jackson.databind.ObjectMapper();
        com.fasterxml.jackson.databind.node.ObjectNode root = (com.fasterxml.jackson.databind.node.ObjectNode) json.readTree(state.toFile());
        edit.accept(root);
        json.writeValue(state.toFile(), root);
    }

    @Test
    void resumeRefusesAnotherConfigurationOrNoCheckpoint() {
        TrainConfig c = config(Architecture.TOPK);
        Path cut = tmp.resolve("refuse");
        try (ActivationSource src = ActivationSources.open(data)) {
            SaeException none = assertThrows(SaeException.class, () -> new Trainer(c, null).resume(src, cut, null, Map.of()));
            assertTrue(none.getMessage().contains("no checkpoint"), none.getMessage());
            assertThrows(Crash.class, () -> new Trainer(c, crashAt(4)).train(src, cut, null, Map.of()));
            SaeException other = assertThrows(SaeException.class,
                    () -> new Trainer(c.withLr(1e-3), null).resume(src, cut, null, Map.of()));
            assertTrue(other.getMessage().contains("differs"), other.getMessage());
        }
        // other data: named before anything the data decides (here: --eval-rows leaving no training rows)
        Path fewer = tmp.resolve("fewer-rows.npy");
        new SyntheticData(24, 64, 3, 5).write(fewer, 900);
        try (ActivationSource src = ActivationSources.open(fewer)) {
            SaeException data = assertThrows(SaeException.class, () -> new Trainer(c, null).resume(src, cut, null, Map.of()));
            assertTrue(data.getMessage().contains("the checkpoint was taken on data of 12000 rows x 24, but")
                    && data.getMessage().contains("has 900 x 24"), data.getMessage());
        }
    }

    /**
     * The real thing: a training JVM killed with SIGKILL once a checkpoint exists, resumed here, ends bit-identical to
     * an uninterrupted run.
     */
    @Test
    void aKilledProcessResumesBitIdentically() throws Exception {
        Path out = tmp.resolve("killed");
        String cp = System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
        List<String> cmd = new ArrayList<>();
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        for (String arg : ManagementFactory.getRuntimeMXBean().getInputArguments()) {
            if (arg.startsWith("--add-modules") || arg.startsWith("--enable-native-access") || arg.startsWith("-Xmx")) {
                cmd.add(arg);
            }
        }
        cmd.addAll(List.of("-cp", cp, CheckpointChild.class.getName(), data.toString(), out.toString()));
        Process child = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(tmp.resolve("child.log").toFile()).start();
        try {
            // A hang guard, not a speed check: give up after 6,000 polls 20 ms apart (at least two minutes).
            for (int polls = 0; Checkpoint.latest(out) == null; polls++) {
                assertTrue(child.isAlive(), "the child ended before its first checkpoint: " + Files.readString(tmp.resolve("child.log")));
                assertTrue(polls < 6000, "no checkpoint after 6,000 polls 20 ms apart");
                Thread.sleep(20);
            }
        } finally {
            child.destroyForcibly();
            child.waitFor();
        }
        assertTrue(Checkpoint.latest(out).getFileName().toString().startsWith("step-"));
        assertFalse(Files.exists(out.resolve(Trainer.SAELENS_DIR)), "killed before the end of training");
        TrainConfig c = CheckpointChild.config();
        try (ActivationSource src = ActivationSources.open(data)) {
            SparseAutoencoder resumed = new Trainer(c, null).resume(src, out, null, Map.of()).get(0).sae();
            SparseAutoencoder expected = new Trainer(c, null).train(src, null, null, Map.of()).sae();
            assertTrue(expected.sameWeights(resumed), "resumed after SIGKILL: weights differ from the uninterrupted run's");
        }
        assertTrue(new File(out.toFile(), Trainer.SAELENS_DIR).isDirectory());
    }
}
