package org.saeforge.core.kernels.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import org.saeforge.core.kernels.AdamStep;

/** The context itself on a GPU: device facts, event timing of real work, buffer checks, ownership. */
class CudaDeviceTest {

    @Test
    void theDeviceRunsKernelsAndTimesThemWithEvents() {
        try (CudaKernels k = CudaTestSupport.openOrSkip(GemmPrecision.TF32)) {
            CudaContext ctx = k.context();
            System.out.println("CUDA device " + ctx.ordinal() + ": " + ctx.deviceName() + ", compute " + ctx.computeCapability()
                    + ", " + ctx.multiprocessors() + " SMs, " + (ctx.totalMemory() >> 20) + " MiB, driver " + ctx.driverVersion());
            assertTrue(ctx.multiprocessors() > 0);
            assertTrue(ctx.maxSharedMemoryPerBlock() >= LaunchMath.gemmTopKSmemBytes(64), "opt-in shared memory");
            int n = 1 << 22;
            try (DeviceBuffer p = ctx.alloc(4L * n); DeviceBuffer g = ctx.alloc(4L * n); DeviceBuffer m = ctx.alloc(4L * n);
                 DeviceBuffer v = ctx.alloc(4L * n)) {
                for (DeviceBuffer b : new DeviceBuffer[] {p, g, m, v}) {
                    b.fill32(Float.floatToIntBits(0.5f), n);
                }
                AdamKernels adam = new AdamKernels(ctx);
                long before = ctx.launches();
                float ms = ctx.time(() -> adam.step(p, g, m, v, n, AdamStep.of(1e-3f, 1), null));
                assertTrue(ms > 0f, "event time of a 4M-element Adam step: " + ms + " ms");
                assertEquals(before + 1, ctx.launches());
                float[] out = new float[4];
                p.download(0, out, 0, 4);
                assertTrue(out[0] < 0.5f, "the step moved the parameter: " + out[0]);
                assertThrows(IllegalArgumentException.class, () -> adam.step(p, g, m, v, n + 1L, AdamStep.of(1e-3f, 1), null));
                assertThrows(IllegalArgumentException.class, () -> p.download(4L * n - 4, out, 0, 2));
            }
        }
    }

    @Test
    void buffersAndViewsRefuseUseAfterClose() {
        try (CudaKernels k = CudaTestSupport.openOrSkip(GemmPrecision.FP32)) {
            DeviceBuffer b = k.context().alloc(64);
            DeviceBuffer view = b.view(16, 16);
            view.close(); // a view owns nothing
            float[] x = {1f, 2f, 3f, 4f};
            view.upload(x, 0, 4, 0);
            float[] back = new float[4];
            b.download(16, back, 0, 4);
            assertEquals(3f, back[2]);
            assertThrows(IllegalArgumentException.class, () -> b.view(60, 8));
            b.close();
            assertThrows(IllegalStateException.class, () -> view.upload(x, 0, 4, 0));
        }
    }
}
