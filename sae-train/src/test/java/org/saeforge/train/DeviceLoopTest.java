package org.saeforge.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.saeforge.core.SaeException;
import org.saeforge.core.data.ActivationSource;
import org.saeforge.core.data.ActivationSources;
import org.saeforge.core.data.BatchStream;
import org.saeforge.core.data.HeldOutSplit;
import org.saeforge.core.io.Json;
import org.saeforge.core.kernels.Device;
import org.saeforge.core.kernels.Kernels;
import org.saeforge.core.kernels.device.BatchFeed;
import org.saeforge.core.kernels.device.DeviceMemoryPlan;
import org.saeforge.core.kernels.device.HostBatchFeed;
import org.saeforge.core.kernels.device.HostTrainDevice;
import org.saeforge.core.kernels.device.TrainDevice;
import org.saeforge.core.model.SparseAutoencoder;
import org.saeforge.train.synth.SyntheticData;

/**
 * The device-resident training loop on the host emulation of the device ({@link HostTrainDevice}, the definition of
 * every device operation): it trains what the CPU loop trains (same batches in the same order, same initialisation,
 * AuxK, annealing, dead latents, schedules), writes checkpoints in the CPU format that resume on either loop, checks
 * its memory plan and reports its device. The same loop runs on the GPU with {@code CudaTrainDevice}.
 */
class DeviceLoopTest {
    @TempDir
    static Path tmp;
    static Path data;

    /** The device loop with host arrays in place of the GPU, reporting {@code freeBytes} of device memory. */
    static DeviceLoop.Backend host(long freeBytes) {
        return new DeviceLoop.Backend() {
            @Override
            public boolean applies(Kernels kernels) {
                return true;
            }

            @Override
            public TrainDevice open(Kernels kernels, TrainConfig shared) {
                return new HostTrainDevice(kernels, freeBytes);
            }

            @Override
            public DeviceMemoryPlan feedPlan(TrainDevice dev, ActivationSource source, int rows) {
                return new DeviceMemoryPlan().add(DeviceMemoryPlan.Category.BATCH, "batch", (long) rows * dev.ld(source.dIn()), 4);
            }

            @Override
            public BatchFeed feed(TrainDevice dev, ActivationSource source, HeldOutSplit split, long seed, BatchStream.Options options, int rows,
                                  long skipBatches, long batches) {
                return new HostBatchFeed(dev, source, split, seed, options, rows, skipBatches);
            }
        };
    }

    static final DeviceLoop.Backend HOST = host(Long.MAX_VALUE / 4);

    @BeforeAll
    static void makeData() {
        data = tmp.resolve("acts.npy");
        new SyntheticData(24, 64, 3, 5).write(data, 12_000);
    }

    /** Streaming batches, k annealing, a dead window short enough for AuxK, checkpoints every 3 steps. */
    static TrainConfig config() {
        return new TrainConfig.Builder().numLatents(96).k(3).kStart(8).kAnneal(0.3).batchSize(256).tokens(256 * 20).evalRows(1000)
                .bufferBytes(3000L * 24 * 4).device(Device.CPU).threads(2).deadAfter(1024).checkpointEvery(3 * 256).keepCheckpoints(2)
                .lr(3e-3).warmupSteps(2).logEvery(1).build();
    }

    /** Largest |a − b| over all weights, relative to the largest |a|. */
    static double relDiff(SparseAutoencoder a, SparseAutoencoder b) {
        double num = 0;
        double den = 0;
        float[][] xs = {a.wEncT().data(), a.wDec().data(), a.bEnc(), a.bDec()};
        float[][] ys = {b.wEncT().data(), b.wDec().data(), b.bEnc(), b.bDec()};
        for (int t = 0; t < xs.length; t++) {
            for (int i = 0; i < xs[t].length; i++) {
                num = Math.max(num, Math.abs(xs[t][i] - ys[t][i]));
                den = Math.max(den, Math.abs(xs[t][i]));
            }
        }
        return num / den;
    }

    static List<JsonNode> metrics(Path dir) throws Exception {
        return Files.readAllLines(dir.resolve(Trainer.METRICS_FILE)).stream().map(l -> {
            try {
                return Json.mapper().readTree(l);
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        }).toList();
    }

    @Test
    void theDeviceLoopTrainsWhatTheCpuLoopTrains() throws Exception {
        TrainConfig c = config();
        Path cpuDir = tmp.resolve("cpu");
        Path devDir = tmp.resolve("dev");
        try (ActivationSource src = ActivationSources.open(data)) {
            TrainResult cpu = new Trainer(c, null).train(src, cpuDir, null, Map.of());
            TrainResult dev = new Trainer(c, null).withDeviceBackend(HOST).train(src, devDir, null, Map.of());
            double diff = relDiff(cpu.sae(), dev.sae());
            assertTrue(diff < 1e-5, "weights after 20 steps differ by " + diff + " (relative)");
            double rel = Math.abs(cpu.eval().fvu() - dev.eval().fvu()) / cpu.eval().fvu();
            assertTrue(rel < 1e-6, "held-out FVU " + cpu.eval().fvu() + " (cpu) vs " + dev.eval().fvu() + " (device loop)");
            assertTrue(dev.backend().startsWith("cpu"), dev.backend());
            TrainResult plain = new Trainer(c.toBuilder().reviveAfter(0).build(), null).train(src, null, null, Map.of());
            assertTrue(relDiff(cpu.sae(), plain.sae()) > 1e-3, "revival (on by default, window " + c.effectiveReviveAfter()
                    + " rows) changed the run, so both loops revived alike");
        }
        List<JsonNode> a = metrics(cpuDir);
        List<JsonNode> b = metrics(devDir);
        assertEquals(a.size(), b.size());
        boolean auxSeen = false;
        for (int i = 0; i < a.size(); i++) {
            for (String key : new String[] {"fvu", "auxk", "l0", "dead_fraction", "lr", "loss"}) {
                double x = a.get(i).path(key).asDouble();
                double y = b.get(i).path(key).asDouble();
                assertTrue(Math.abs(x - y) <= 1e-5 * Math.max(1, Math.abs(x)), "step " + (i + 1) + " " + key + ": cpu " + x + ", device " + y);
            }
            assertEquals(a.get(i).path("k").asInt(), b.get(i).path("k").asInt(), "annealed k at step " + (i + 1));
            auxSeen |= b.get(i).path("auxk").asDouble() > 0;
        }
        assertTrue(auxSeen, "AuxK ran (latents died within the run)");
        JsonNode run = Json.read(devDir.resolve(Trainer.RUN_FILE));
        assertTrue(run.path("device").path("memory_planned_bytes").asLong() > 0, run.toString());
        assertTrue(run.path("device").path("phase_median_ms").has("encoder"), run.toString());
        assertTrue(run.path("device").path("device").asText().startsWith("host emulation"), run.toString());
    }

    @Test
    void deviceCheckpointsResumeExactlyOnTheDeviceAndCloselyOnTheCpu() throws Exception {
        TrainConfig c = config();
        Path whole = tmp.resolve("dev-whole");
        Path cut = tmp.resolve("dev-cut");
        Path cutForCpu = tmp.resolve("dev-cut-cpu");
        try (ActivationSource src = ActivationSources.open(data)) {
            SparseAutoencoder expected = new Trainer(c, null).withDeviceBackend(HOST).train(src, whole, null, Map.of()).sae();
            for (Path p : List.of(cut, cutForCpu)) {
                assertThrows(CheckpointResumeTest.Crash.class,
                        () -> new Trainer(c, CheckpointResumeTest.crashAt(8)).withDeviceBackend(HOST).train(src, p, null, Map.of()));
                assertEquals(List.of(3L, 6L), Checkpoint.stepsIn(p.resolve(Checkpoint.DIR)));
            }
            SparseAutoencoder onDevice = new Trainer(c, null).withDeviceBackend(HOST).resume(src, cut, null, Map.of()).get(0).sae();
            assertTrue(expected.sameWeights(onDevice), "a device checkpoint resumed on the device equals the uninterrupted run");
            SparseAutoencoder onCpu = new Trainer(c, null).resume(src, cutForCpu, null, Map.of()).get(0).sae();
            double diff = relDiff(expected, onCpu);
            assertTrue(diff < 1e-5, "a device checkpoint resumed on the CPU ends " + diff + " (relative) from the device run");
        }
        List<String> a = Files.readAllLines(whole.resolve(Trainer.METRICS_FILE));
        List<String> b = Files.readAllLines(cut.resolve(Trainer.METRICS_FILE));
        assertEquals(a.size(), b.size(), "the resumed metrics log has each step once");
        for (int i = 0; i < a.size(); i++) {
            assertEquals(a.get(i).replaceAll(",\"rows_per_sec\":[0-9.]+", ""), b.get(i).replaceAll(",\"rows_per_sec\":[0-9.]+", ""),
                    "metrics line " + i);
        }
    }

    @Test
    void cpuCheckpointsResumeOnTheDeviceUnderAnotherDeviceSetting() {
        TrainConfig c = config();
        Path cut = tmp.resolve("cpu-cut");
        try (ActivationSource src = ActivationSources.open(data)) {
            SparseAutoencoder expected = new Trainer(c, null).train(src, null, null, Map.of()).sae();
            assertThrows(CheckpointResumeTest.Crash.class, () -> new Trainer(c, CheckpointResumeTest.crashAt(5)).train(src, cut, null, Map.of()));
            // resumed with other device settings (as `sae resume DIR --device cuda` does): the same training
            TrainConfig elsewhere = c.toBuilder().device(Device.AUTO).threads(1)
                    .gemmPrecision(org.saeforge.core.kernels.cuda.GemmPrecision.TF32).build();
            SparseAutoencoder resumed = new Trainer(elsewhere, null).withDeviceBackend(HOST).resume(src, cut, null, Map.of()).get(0).sae();
            double diff = relDiff(expected, resumed);
            assertTrue(diff < 1e-5, "a CPU checkpoint resumed on the device ends " + diff + " (relative) from the CPU run");
        }
    }

    @Test
    void aSweepTrainsEachSaeAsAlone() {
        List<TrainConfig> sweep = List.of(config(), config().toBuilder().numLatents(48).k(4).kStart(0).build());
        try (ActivationSource src = ActivationSources.open(data)) {
            List<TrainResult> together = new Trainer(sweep, null).withDeviceBackend(HOST).trainAll(src, null, null, Map.of());
            for (int i = 0; i < sweep.size(); i++) {
                SparseAutoencoder alone = new Trainer(sweep.get(i), null).withDeviceBackend(HOST).train(src, null, null, Map.of()).sae();
                assertTrue(alone.sameWeights(together.get(i).sae()), "SAE " + i + " of the sweep equals its single run");
            }
        }
    }

    @Test
    void aConfigurationTooLargeForTheDeviceFailsWithTheSizes() {
        TrainConfig c = config();
        try (ActivationSource src = ActivationSources.open(data)) {
            SaeException e = assertThrows(SaeException.class,
                    () -> new Trainer(c, null).withDeviceBackend(host(1L << 20)).train(src, null, null, Map.of()));
            String m = e.getMessage();
            assertTrue(m.startsWith("--device cuda: this configuration needs ") && m.contains("parameters") && m.contains("Adam state")
                    && m.contains("has 1.00 MiB free of 2.00 MiB") && !m.contains("\n"), m);
        }
    }

    @Test
    void aDivergingRunStopsWithTheStep() {
        TrainConfig c = config().toBuilder().lr(1e38).warmupSteps(0).build();
        try (ActivationSource src = ActivationSources.open(data)) {
            SaeException e = assertThrows(SaeException.class,
                    () -> new Trainer(c, null).withDeviceBackend(HOST).train(src, null, null, Map.of()));
            assertTrue(e.getMessage().matches("training diverged at step \\d+ \\(the loss is not finite\\); lower --lr or check the data"),
                    e.getMessage());
        }
    }
}
