package org.saeforge.core.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.BitSet;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.saeforge.core.FileFormatException;
import org.saeforge.core.SaeException;
import org.saeforge.core.tensor.FloatMatrix;

/** Streaming batches: deterministic whatever the read timing, each row once per pass, filters counted. */
class BatchStreamTest {
    static final int D = 8;

    /**
     * Row r holds r / 1024 in column 0 (exact) and 1 elsewhere, or 1000 for rows r % 7 == 3 (outliers); optionally
     * slow and jittery, or failing at one row (with a FileFormatException, or with the InternalError the JVM raises
     * for a fault on a mapped page).
     */
    static final class IndexSource implements ActivationSource {
        final long rows;
        final long seed;
        final long failAt;
        final boolean faultAsError;

        IndexSource(long rows, long jitterSeed, long failAt) {
            this(rows, jitterSeed, failAt, false);
        }

        IndexSource(long rows, long jitterSeed, long failAt, boolean faultAsError) {
            this.rows = rows;
            this.seed = jitterSeed;
            this.failAt = failAt;
            this.faultAsError = faultAsError;
        }

        @Override
        public Path path() {
            return Path.of("index-source");
        }

        @Override
        public int dIn() {
            return D;
        }

        @Override
        public long numRows() {
            return rows;
        }

        @Override
        public String dtype() {
            return "float32";
        }

        @Override
        public void readRows(long first, int count, float[] dst, int dstOffset) {
            if (seed != 0) {
                try {
                    Thread.sleep(new SplittableRandom(seed ^ first ^ System.nanoTime()).nextInt(3));
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
            if (failAt >= first && failAt < first + count) {
                if (faultAsError) {
                    throw new InternalError("a fault occurred in a recent unsafe memory access operation in compiled Java code");
                }
                throw new FileFormatException(path(), "truncated or changed while being read");
            }
            for (int r = 0; r < count; r++) {
                long row = first + r;
                dst[dstOffset + r * D] = row / 1024f;
                for (int i = 1; i < D; i++) {
                    dst[dstOffset + r * D + i] = (row % 7 == 3) ? 1000f : 1f;
                }
            }
        }

        @Override
        public void close() {
        }
    }

    private static float[] drain(ActivationSource src, HeldOutSplit split, long bufferBytes, int batches, int batchSize) {
        float[] all = new float[batches * batchSize * D];
        try (BatchStream s = new BatchStream(src, split, 42, bufferBytes, BadRowPolicy.SKIP)) {
            assertFalse(s.inMemory());
            FloatMatrix b = new FloatMatrix(batchSize, D);
            for (int i = 0; i < batches; i++) {
                s.next(b);
                System.arraycopy(b.data(), 0, all, i * batchSize * D, batchSize * D);
            }
        }
        return all;
    }

    @Test
    void streamingIsDeterministicWhateverTheTiming() {
        long rows = 5 * BatchStream.CHUNK_ROWS + 123;
        HeldOutSplit split = HeldOutSplit.create(rows, 200, 7);
        long budget = 1000L * D * 4;
        float[] fast = drain(new IndexSource(rows, 0, -1), split, budget, 60, 256);
        float[] slow = drain(new IndexSource(rows, 99, -1), split, budget, 60, 256);
        assertArrayEquals(fast, slow);
    }

    @Test
    void eachTrainingRowAtMostOncePerPassAndNoHeldOutRows() {
        long rows = 6 * BatchStream.CHUNK_ROWS;
        HeldOutSplit split = HeldOutSplit.create(rows, 300, 3);
        int capacity = 2000;
        int batch = 100;
        // rows inserted = capacity + draws <= trainRows, so no row can be drawn twice
        int batches = (int) ((split.trainRows() - capacity) / batch);
        float[] all = drain(new IndexSource(rows, 0, -1), split, (long) capacity * D * 4, batches, batch);
        BitSet seen = new BitSet();
        for (int i = 0; i < batches * batch; i++) {
            int row = Math.round(all[i * D] * 1024);
            assertFalse(split.isEval(row), "held-out row " + row + " served");
            assertFalse(seen.get(row), "row " + row + " served twice");
            seen.set(row);
        }
        assertEquals(batches * batch, seen.cardinality());
    }

    @Test
    void readErrorsReachTheCaller() {
        long rows = 4 * BatchStream.CHUNK_ROWS;
        HeldOutSplit split = HeldOutSplit.create(rows, 0, 1);
        // the failing chunk is read within the first pass (perhaps while the buffer first fills)
        FileFormatException e = assertThrows(FileFormatException.class, () -> {
            try (BatchStream s = new BatchStream(new IndexSource(rows, 0, 3 * BatchStream.CHUNK_ROWS + 5), split, 1,
                    100L * D * 4, BadRowPolicy.SKIP)) {
                FloatMatrix b = new FloatMatrix(64, D);
                for (int i = 0; i < 1000; i++) {
                    s.next(b);
                }
            }
        });
        assertTrue(e.getMessage().contains("truncated"), e.getMessage());
    }

    @Test
    void fileTruncatedDuringStreamingStopsTheStream(@org.junit.jupiter.api.io.TempDir Path dir) throws java.io.IOException {
        Path f = dir.resolve("acts.npy");
        int rows = 8 * BatchStream.CHUNK_ROWS;
        NpyWriter.write(f, new float[rows * D], rows, D);
        try (ActivationSource src = ActivationSources.open(f)) {
            HeldOutSplit split = HeldOutSplit.create(rows, 0, 1);
            try (BatchStream s = new BatchStream(src, split, 1, 1000L * D * 4, BadRowPolicy.SKIP)) {
                FloatMatrix b = new FloatMatrix(256, D);
                s.next(b);
                try (java.io.RandomAccessFile raf = new java.io.RandomAccessFile(f.toFile(), "rw")) {
                    raf.setLength(raf.length() / 2);
                }
                FileFormatException e = assertThrows(FileFormatException.class, () -> {
                    for (int i = 0; i < 10 * rows / 256; i++) {
                        s.next(b);
                    }
                });
                assertTrue(e.getMessage().contains("acts.npy") && e.getMessage().contains("changed while being read"), e.getMessage());
            }
        }
    }

    /**
     * The JVM reports a fault on a mapped page of a truncated file as an InternalError, possibly after the read that
     * caused it returned: the stream turns it into a one-line error naming the file instead of leaving the consumer
     * waiting for a chunk that never comes.
     */
    @Test
    void aFaultOnTheReadingThreadStopsTheStreamWithTheFileNamed() {
        long rows = 6L * BatchStream.CHUNK_ROWS;
        IndexSource faulting = new IndexSource(rows, 0, 2L * BatchStream.CHUNK_ROWS + 5, true);
        org.junit.jupiter.api.Assertions.assertTimeoutPreemptively(java.time.Duration.ofSeconds(60), () -> {
            HeldOutSplit split = HeldOutSplit.create(rows, 0, 1);
            FileFormatException e = assertThrows(FileFormatException.class, () -> {
                try (BatchStream s = new BatchStream(faulting, split, 1, 1000L * D * 4, BadRowPolicy.SKIP)) {
                    FloatMatrix b = new FloatMatrix(256, D);
                    for (int i = 0; i < 10 * rows / 256; i++) {
                        s.next(b);
                    }
                }
            });
            assertTrue(e.getMessage().contains(faulting.path().getFileName().toString()) && e.getMessage().contains("changed while being read"),
                    e.getMessage());
        });
    }

    @Test
    void normLimitDropsAndScaleMultiplies() {
        long rows = 3 * BatchStream.CHUNK_ROWS;
        HeldOutSplit split = HeldOutSplit.create(rows, 0, 1);
        // rows with r % 7 == 3 have norm above 2645, the others below 13
        BatchStream.Options opt = new BatchStream.Options(500L * D * 4, BadRowPolicy.SKIP, 100, 0.5f);
        try (BatchStream s = new BatchStream(new IndexSource(rows, 0, -1), split, 5, opt)) {
            FloatMatrix b = new FloatMatrix(100, D);
            for (int i = 0; i < 50; i++) {
                s.next(b);
                for (int r = 0; r < 100; r++) {
                    assertEquals(0.5f, b.get(r, 1), "row " + b.get(r, 0) * 2048 + " not scaled or not filtered");
                }
            }
            assertTrue(s.normDropped() > 0);
        }
        // in memory too: exactly the rows with norm above the limit are dropped
        BatchStream.Options mem = new BatchStream.Options(1L << 30, BadRowPolicy.SKIP, 100, 1f);
        try (BatchStream s = new BatchStream(new IndexSource(rows, 0, -1), split, 5, mem)) {
            assertTrue(s.inMemory());
            long expect = 0;
            for (long r = 0; r < rows; r++) {
                expect += r % 7 == 3 ? 1 : 0;
            }
            assertEquals(expect, s.normDropped());
        }
    }

    @Test
    void allRowsFilteredIsAClearError() {
        HeldOutSplit split = HeldOutSplit.create(2 * BatchStream.CHUNK_ROWS, 0, 1);
        BatchStream.Options opt = new BatchStream.Options(100L * D * 4, BadRowPolicy.SKIP, 1e-3, 1f);
        SaeException e = assertThrows(SaeException.class, () -> new BatchStream(new IndexSource(2 * BatchStream.CHUNK_ROWS, 0, -1),
                split, 5, opt));
        assertTrue(e.getMessage().contains("no usable training rows"), e.getMessage());
    }

    @Test
    void normStatsOfASample() {
        NormStats st = NormStats.sample(new IndexSource(10_000, 0, -1), 4096);
        assertEquals(4096, st.rows());
        assertTrue(st.medianNorm() > 2 && st.medianNorm() < 13, "median " + st.medianNorm());
        // every 7th row is an outlier: about 1/7 of the sample lies far above the median
        assertEquals(4096 / 7.0, st.countAbove(100 * st.medianNorm()), 2);
        assertTrue(st.countAbove(st.medianNorm()) <= 2048);
        double s = st.scaleToDIn(D, Double.POSITIVE_INFINITY);
        assertEquals(D, s * s * st.meanSquaredNorm(), 1e-9 * D);
    }
}
