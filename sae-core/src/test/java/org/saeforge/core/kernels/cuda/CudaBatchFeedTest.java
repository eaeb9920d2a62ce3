package org.saeforge.core.kernels.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.saeforge.core.data.ActivationSource;
import org.saeforge.core.data.ActivationSources;
import org.saeforge.core.data.BadRowPolicy;
import org.saeforge.core.data.BatchStream;
import org.saeforge.core.data.HeldOutSplit;
import org.saeforge.core.data.NpySource;
import org.saeforge.core.data.NpyWriter;
import org.saeforge.core.data.ShardFolder;
import org.saeforge.core.kernels.device.HostBatchFeed;
import org.saeforge.core.kernels.device.HostTrainDevice;

/**
 * The GPU input pipeline delivers exactly the batches of its host definition ({@link HostBatchFeed}): the rows of the
 * CPU trainer's stream for the seed, widened and scaled, with their total variance; float16 shards travel as stored,
 * float32 files too, other sources widened on the host. Skipped without a GPU.
 */
class CudaBatchFeedTest extends Fp32CudaTest {
    @TempDir
    Path dir;

    private static final int D = 50;
    private static final int ROWS = 3 * 4096 + 321;

    private Path npy() {
        float[] data = new float[ROWS * D];
        SplittableRandom rnd = new SplittableRandom(1);
        for (int i = 0; i < data.length; i++) {
            data[i] = (float) rnd.nextGaussian() * (1 + (i / D) % 3);
        }
        data[77 * D + 3] = Float.NaN;
        Path f = dir.resolve("x.npy");
        NpyWriter.write(f, data, ROWS, D);
        return f;
    }

    /** {@code batches} batches after {@code skip}: the GPU pipeline against the host one, element by element. */
    private void assertSameBatches(ActivationSource src, String expectHow) {
        HeldOutSplit split = HeldOutSplit.create(src.numRows(), 500, 3);
        BatchStream.Options o = new BatchStream.Options(2000L * D * 4, BadRowPolicy.SKIP, Double.POSITIVE_INFINITY, 0.5f);
        int b = 300;
        int batches = 25;
        try (CudaTrainDevice g = CudaTrainDevice.open(kernels, GemmPrecision.FP32); HostTrainDevice h = new HostTrainDevice(ref);
             CudaBatchFeed gpu = CudaBatchFeed.open(g, src, split, 7, o, b, 4, batches);
             HostBatchFeed host = new HostBatchFeed(h, src, split, 7, o, b, 4)) {
            assertEquals(expectHow, gpu.describe());
            long launches = kernels.context().launches();
            float[] a = new float[b * D];
            float[] c = new float[b * D];
            for (int t = 0; t < batches; t++) {
                gpu.next();
                host.next();
                assertArrayEquals(host.rowIds(), gpu.rowIds(), "row ids of batch " + t);
                g.downloadRows(gpu.batch(), b, D, g.ld(D), a);
                h.downloadRows(host.batch(), b, D, D, c);
                assertArrayEquals(c, a, "rows of batch " + t);
                double tvg = g.readDouble(gpu.totalVariance());
                double tvh = h.readDouble(host.totalVariance());
                assertTrue(Math.abs(tvg - tvh) <= 1e-12 * tvh, "total variance of batch " + t + ": " + tvg + " vs " + tvh);
                assertEquals(host.badRows(), gpu.badRows(), "bad rows at batch " + t);
            }
            assertTrue(gpu.badRows() > 0, "the NaN row was skipped");
            assertThrows(IllegalStateException.class, gpu::next, "opened for 25 batches");
            CudaTestSupport.assertRanOnGpu(kernels, launches, "input pipeline");
        }
    }

    @Test
    void float32RowsTravelAsStored() {
        try (NpySource src = NpySource.open(npy())) {
            assertSameBatches(src, "float32 as stored");
        }
    }

    @Test
    void float16ShardsTravelAsStored() {
        Path shards = dir.resolve("shards");
        try (NpySource src = NpySource.open(npy())) {
            // shards of 1000 rows: batches gather across shard boundaries; the NaN stays a NaN in float16
            ShardFolder.write(src, shards, "float16", 1000L * D * 2, n -> { });
        }
        try (ActivationSource f16 = ActivationSources.open(shards)) {
            assertSameBatches(f16, "float16 as stored");
        }
    }
}
