package org.saeforge.core.kernels.device;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Map;
import org.junit.jupiter.api.Test;
import org.saeforge.core.SaeException;
import org.saeforge.core.kernels.cpu.ReferenceKernels;
import org.saeforge.core.kernels.cuda.CudaTrainDevice;
import org.saeforge.core.kernels.cuda.LaunchMath;
import org.saeforge.core.kernels.device.DeviceMemoryPlan.Category;

/** The device memory estimate, without a GPU: sizes at the benchmark shape, the plan against real allocations, the check. */
class DeviceMemoryPlanTest {
    /** The benchmark: dIn 1024, 65,536 latents, k 32, batch 8192, AuxK with dIn / 2. */
    static final TopKDeviceModel.Shape BENCH = new TopKDeviceModel.Shape(1024, 65536, 8192, 32, 512, 1.0 / 32, 1_000_000);

    @Test
    void theBenchmarkShapeNeedsWhatItsArraysHold() {
        DeviceMemoryPlan p = TopKDeviceModel.plan(BENCH, 1024, 2);
        Map<Category, Long> c = p.byCategory();
        // wEncT + wDec in fp32 (2 x 256 MiB), biases, the bf16 copy of wEncT (128 MiB)
        assertEquals(671_354_880L, c.get(Category.PARAMETERS));
        assertEquals(537_137_152L, c.get(Category.GRADIENTS));
        assertEquals(1_074_274_304L, c.get(Category.ADAM));
        assertEquals(1_835_012L, c.get(Category.DEAD_LATENTS));
        // bf16 encoder input 16 MiB, codes 3 MiB, reconstruction and its gradient 64 MiB
        assertEquals(87_031_840L, c.get(Category.STEP));
        // AuxK codes 48 MiB, its reconstruction and gradient 64 MiB, dead encoder rows in bf16 128 MiB
        assertEquals(251_920_384L, c.get(Category.AUXK));
        assertEquals(2_623_553_572L, p.total());
        assertEquals("2.44 GiB (parameters 640 MiB, Adam state 1.00 GiB, gradients 512 MiB, dead-latent state 1.75 MiB, step scratch 83.0 MiB,"
                + " AuxK workspace 240 MiB)", p.summary());
        DeviceMemoryPlan noAux = TopKDeviceModel.plan(new TopKDeviceModel.Shape(1024, 65536, 8192, 32, 512, 0, 1_000_000), 1024, 2);
        assertFalse(noAux.byCategory().containsKey(Category.AUXK), "no AuxK workspace without AuxK");
    }

    @Test
    void theSharedScratchOfTheBenchmarkOnAnH100() {
        // 132 SMs, two fused top-k blocks per SM, 64 row panels: 4 chunks of 32 candidates per row
        int candidates = LaunchMath.planTopK(8192, 65536, 32, 132, 2).candidatesPerRow();
        assertEquals(128, candidates);
        DeviceMemoryPlan p = CudaTrainDevice.scratchPlan(8192, 65536, 1024, 32, 512, candidates, 0, 132);
        long fused = 8L * 8192 * 128;
        long dense = 4L << 26;
        long groups = 8L * (1 << 22) + 8L * 65536;
        assertEquals(fused + dense, p.byCategory().get(Category.ENCODER), "candidates + the 256 MiB AuxK pre-activation chunk");
        assertTrue(p.byCategory().get(Category.STEP) > groups, "grouping keys and the reductions");
        assertTrue(p.total() < 400L << 20, p.summary());
    }

    @Test
    void thePlanIsWhatTheModelAllocates() {
        for (TopKDeviceModel.Shape s : new TopKDeviceModel.Shape[] {
                new TopKDeviceModel.Shape(24, 96, 64, 8, 12, 1.0 / 32, 500),
                new TopKDeviceModel.Shape(7, 33, 5, 33, 3, 0, 1)}) {
            try (HostTrainDevice dev = new HostTrainDevice(new ReferenceKernels())) {
                new TopKDeviceModel(dev, s);
                assertEquals(TopKDeviceModel.plan(s, dev.ld(s.dIn()), dev.operandBytes()).total(), dev.allocatedBytes(), s.toString());
            }
        }
    }

    @Test
    void aPlanThatDoesNotFitFailsNamingBothSizes() {
        DeviceMemoryPlan p = TopKDeviceModel.plan(BENCH, 1024, 2);
        p.requireFits("NVIDIA H100 80GB HBM3", 80L << 30, 80L << 30);
        SaeException e = assertThrows(SaeException.class, () -> p.requireFits("NVIDIA H100 80GB HBM3", 2L << 30, 80L << 30));
        assertEquals("--device cuda: this configuration needs " + p.summary() + " of device memory plus a 256 MiB reserve, but NVIDIA H100"
                + " 80GB HBM3 has 2.00 GiB free of 80.0 GiB; lower --batch-size or --num-latents, or train fewer SAEs at once", e.getMessage());
        assertEquals(SaeException.BAD_INPUT, e.exitCode());
        // the reserve counts: a plan that fits only without it fails
        assertThrows(SaeException.class, () -> p.requireFits("d", p.total() + 1, 80L << 30));
    }

    @Test
    void sizesInBinaryUnits() {
        assertEquals("0 B", DeviceMemoryPlan.size(0));
        assertEquals("1023 B", DeviceMemoryPlan.size(1023));
        assertEquals("1.00 KiB", DeviceMemoryPlan.size(1024));
        assertEquals("512 MiB", DeviceMemoryPlan.size(512L << 20));
        assertEquals("79.6 GiB", DeviceMemoryPlan.size(85_476_638_720L));
        assertThrows(IllegalArgumentException.class, () -> new DeviceMemoryPlan().add(Category.STEP, "x", -1, 4));
        assertThrows(ArithmeticException.class, () -> new DeviceMemoryPlan().add(Category.STEP, "x", Long.MAX_VALUE / 2, 4));
    }
}
