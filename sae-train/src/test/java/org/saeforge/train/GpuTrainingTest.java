package org.saeforge.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.saeforge.core.SaeException;
import org.saeforge.core.data.ActivationSource;
import org.saeforge.core.data.ActivationSources;
import org.saeforge.core.data.ShardFolder;
import org.saeforge.core.io.Json;
import org.saeforge.core.kernels.Device;
import org.saeforge.core.kernels.Kernels;
import org.saeforge.core.kernels.KernelsFactory;
import org.saeforge.core.kernels.cuda.CudaUnavailableException;
import org.saeforge.core.kernels.cuda.GemmPrecision;
import org.saeforge.core.model.SparseAutoencoder;
import org.saeforge.train.synth.SyntheticData;

/**
 * {@code sae train --device cuda} end to end on a GPU: the same seed and data give the held-out FVU of the CPU run within
 * 1% relative (bf16 and TF32 encoder products), a GPU checkpoint resumes exactly on the GPU and completes on the CPU,
 * {@code auto} picks the GPU, and a configuration too large for the card stops before training with the sizes. Skipped
 * without a GPU ({@code -Dsae.cuda.require=true} makes that a failure).
 */
class GpuTrainingTest {
    @TempDir
    static Path tmp;
    static Path shards;

    @BeforeAll
    static void makeData() {
        Path npy = tmp.resolve("acts.npy");
        new SyntheticData(64, 256, 4, 3).write(npy, 40_000);
        shards = tmp.resolve("shards-f16");
        try (ActivationSource src = ActivationSources.open(npy)) {
            ShardFolder.write(src, shards, "float16", 8L << 20, n -> { });
        }
    }

    @BeforeEach
    void requireGpu() {
        try (Kernels k = KernelsFactory.create(Device.CUDA, 1)) {
            assertEquals("cuda", k.name());
        } catch (CudaUnavailableException e) {
            if (Boolean.getBoolean("sae.cuda.require")) {
                fail("CUDA is required (-Dsae.cuda.require=true) but unavailable: " + e.getMessage());
            }
            Assumptions.abort("no usable CUDA GPU: " + e.getMessage());
        }
    }

    static TrainConfig config(Device device, GemmPrecision precision) {
        return new TrainConfig.Builder().numLatents(512).k(8).batchSize(1024).tokens(1024L * 60).evalRows(2000).deadAfter(20_000)
                .checkpointEvery(1024L * 20).keepCheckpoints(3).logEvery(5).device(device).threads(2).gemmPrecision(precision).build();
    }

    @ParameterizedTest
    @EnumSource(value = GemmPrecision.class, names = {"BF16", "TF32"})
    void theGpuReachesTheHeldOutFvuOfTheCpu(GemmPrecision precision) {
        try (ActivationSource src = ActivationSources.open(shards)) {
            TrainResult cpu = new Trainer(config(Device.CPU, precision), null).train(src, null, null, Map.of());
            TrainResult gpu = new Trainer(config(Device.CUDA, precision), null).train(src, tmp.resolve("gpu-" + precision), null, Map.of());
            assertTrue(gpu.backend().equals("cuda/" + precision.suffix()), gpu.backend());
            double rel = Math.abs(gpu.eval().fvu() - cpu.eval().fvu()) / cpu.eval().fvu();
            assertTrue(rel < 0.01, precision + ": held-out FVU " + gpu.eval().fvu() + " on the GPU, " + cpu.eval().fvu() + " on the CPU");
            assertTrue(gpu.eval().fvu() < 0.5, "it learned something: FVU " + gpu.eval().fvu());
            var device = Json.read(tmp.resolve("gpu-" + precision).resolve(Trainer.RUN_FILE)).path("device");
            assertTrue(device.path("encoder_tflops").asDouble() > 0, device.toString());
            assertTrue(device.path("memory_allocated_bytes").asLong() > 0, device.toString());
            assertTrue(java.util.Set.of("wgmma (sm_90a)", "mma.sync").contains(device.path("encoder_kernels").asText()), device.toString());
        }
    }

    @Test
    void aGpuCheckpointResumesExactlyOnTheGpuAndCompletesOnTheCpu() {
        TrainConfig c = config(Device.CUDA, GemmPrecision.BF16);
        Path whole = tmp.resolve("whole");
        Path cut = tmp.resolve("cut");
        Path cutCpu = tmp.resolve("cut-cpu");
        try (ActivationSource src = ActivationSources.open(shards)) {
            TrainResult expected = new Trainer(c, null).train(src, whole, null, Map.of());
            for (Path p : List.of(cut, cutCpu)) {
                assertThrows(CheckpointResumeTest.Crash.class, () -> new Trainer(c, CheckpointResumeTest.crashAt(35)).train(src, p, null, Map.of()));
                assertEquals(List.of(20L), Checkpoint.stepsIn(p.resolve(Checkpoint.DIR)));
            }
            SparseAutoencoder again = new Trainer(c, null).resume(src, cut, null, Map.of()).get(0).sae();
            assertTrue(expected.sae().sameWeights(again), "a GPU checkpoint resumed on the GPU equals the uninterrupted GPU run");
            TrainResult onCpu = new Trainer(c.toBuilder().device(Device.CPU).build(), null).resume(src, cutCpu, null, Map.of()).get(0);
            double rel = Math.abs(onCpu.eval().fvu() - expected.eval().fvu()) / expected.eval().fvu();
            assertTrue(rel < 0.01, "resumed on the CPU: FVU " + onCpu.eval().fvu() + ", GPU run " + expected.eval().fvu());
            assertTrue(onCpu.backend().startsWith("cpu"), onCpu.backend());
        }
    }

    @Test
    void autoPicksTheGpuForTopK() {
        try (ActivationSource src = ActivationSources.open(shards)) {
            TrainConfig c = config(Device.AUTO, GemmPrecision.BF16).withTokens(1024L * 5);
            assertTrue(new Trainer(c, null).train(src, null, null, Map.of()).backend().startsWith("cuda/"));
        }
    }

    @Test
    void aConfigurationTooLargeForTheCardStopsBeforeTraining() {
        TrainConfig c = config(Device.CUDA, GemmPrecision.BF16).toBuilder().numLatents(200_000_000).build();
        try (ActivationSource src = ActivationSources.open(shards)) {
            SaeException e = assertThrows(SaeException.class, () -> new Trainer(c, null).train(src, null, null, Map.of()));
            assertTrue(e.getMessage().startsWith("--device cuda: this configuration needs ") && e.getMessage().contains(" free of "),
                    e.getMessage());
            assertEquals(SaeException.BAD_INPUT, e.exitCode());
        }
    }
}
