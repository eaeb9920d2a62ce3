package org.saeforge.core.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.saeforge.core.SaeException;
import org.saeforge.core.tensor.FloatMatrix;
import org.saeforge.core.testing.Fixtures;

/** Held-out split and shuffled batches through real files: determinism, coverage, no leakage, bounded buffers, bad rows. */
class BatchStreamSplitTest {

    /** Rows whose first value is the row number, so batches reveal which rows they hold. */
    private static Path numberedRows(Path dir, int rows, int d) {
        FloatMatrix m = new FloatMatrix(rows, d);
        for (int r = 0; r < rows; r++) {
            for (int i = 0; i < d; i++) {
                m.set(r, i, i == 0 ? r : (r * 31 + i) % 7);
            }
        }
        Path p = dir.resolve("rows.npy");
        NpyWriter.write(p, m);
        return p;
    }

    @Test
    void splitIsSeededDisjointAndSized() {
        HeldOutSplit a = HeldOutSplit.create(100_000, 1000, 1);
        HeldOutSplit b = HeldOutSplit.create(100_000, 1000, 1);
        HeldOutSplit c = HeldOutSplit.create(100_000, 1000, 2);
        assertTrue(a.evalRows() >= 1000 && a.evalRows() < 1000 + a.blockSize());
        int same = 0;
        int diff = 0;
        for (long r = 0; r < 100_000; r++) {
            assertEquals(a.isEval(r), b.isEval(r));
            if (a.isEval(r) != c.isEval(r)) {
                diff++;
            } else {
                same++;
            }
        }
        assertTrue(diff > 0, "another seed gives another split");
        assertEquals(100_000 - a.evalRows(), a.trainRows());
        assertThrows(SaeException.class, () -> HeldOutSplit.create(10, 10, 0));
        assertEquals(1, HeldOutSplit.defaultEvalRows(10));
        assertEquals(2_500, HeldOutSplit.defaultEvalRows(50_000));
        assertEquals(10_000, HeldOutSplit.defaultEvalRows(200_000));
        assertEquals(10_000, HeldOutSplit.defaultEvalRows(1_000_000));
        assertEquals(20_000, HeldOutSplit.defaultEvalRows(2_000_000));
        assertEquals(50_000, HeldOutSplit.defaultEvalRows(100_000_000));
    }

    private static Map<Integer, Integer> countRows(BatchStream s, int batches, int batchSize, int d) {
        Map<Integer, Integer> seen = new HashMap<>();
        FloatMatrix batch = new FloatMatrix(batchSize, d);
        for (int b = 0; b < batches; b++) {
            s.next(batch);
            for (int r = 0; r < batchSize; r++) {
                seen.merge((int) batch.get(r, 0), 1, Integer::sum);
            }
        }
        return seen;
    }

    @Test
    void inMemoryEpochsVisitEveryTrainingRowOnceAndNoHeldOutRow(@TempDir Path tmp) {
        int rows = 1000;
        int d = 5;
        HeldOutSplit split = HeldOutSplit.create(rows, 100, 3);
        try (ActivationSource src = ActivationSources.open(numberedRows(tmp, rows, d))) {
            try (BatchStream s = new BatchStream(src, split, 7, 1 << 20, BadRowPolicy.SKIP)) {
            assertTrue(s.inMemory());
            int batchSize = 30;
            int perEpoch = (int) (split.trainRows() / batchSize);
            Map<Integer, Integer> seen = countRows(s, perEpoch, batchSize, d);
            assertEquals(perEpoch * batchSize, seen.size(), "no row twice within an epoch");
            seen.keySet().forEach(r -> assertFalse(split.isEval(r), "held-out row " + r + " served for training"));
            }
        }
    }

    @Test
    void streamingModeCoversTrainingRowsWithABoundedBuffer(@TempDir Path tmp) {
        int rows = 20_000;
        int d = 4;
        HeldOutSplit split = HeldOutSplit.create(rows, 200, 3);
        try (ActivationSource src = ActivationSources.open(numberedRows(tmp, rows, d))) {
            long budget = 1000L * d * 4;
            try (BatchStream s = new BatchStream(src, split, 7, budget, BadRowPolicy.SKIP)) {
            assertFalse(s.inMemory());
            int batchSize = 100;
            Map<Integer, Integer> seen = countRows(s, (int) (3 * split.trainRows() / batchSize), batchSize, d);
            seen.keySet().forEach(r -> assertFalse(split.isEval(r), "held-out row " + r + " served for training"));
            assertTrue(seen.size() > 0.98 * split.trainRows(), "three epochs' worth of draws reach almost every row: " + seen.size());
            }
        }
    }

    @Test
    void sameSeedSameBatchesOtherSeedOtherBatches(@TempDir Path tmp) {
        int rows = 5000;
        int d = 3;
        Path p = numberedRows(tmp, rows, d);
        for (long budget : new long[] {1 << 20, 600L * d * 4}) {
            float[][] runs = new float[3][];
            long[] seeds = {5, 5, 6};
            for (int i = 0; i < 3; i++) {
                try (ActivationSource src = ActivationSources.open(p);
                     BatchStream s = new BatchStream(src, HeldOutSplit.create(rows, 50, 1), seeds[i], budget, BadRowPolicy.SKIP)) {
                    FloatMatrix batch = new FloatMatrix(64, d);
                    float[] all = new float[64 * d * 40];
                    for (int b = 0; b < 40; b++) {
                        s.next(batch);
                        System.arraycopy(batch.data(), 0, all, b * 64 * d, 64 * d);
                    }
                    runs[i] = all;
                }
            }
            assertArrayEquals(runs[0], runs[1]);
            assertFalse(java.util.Arrays.equals(runs[0], runs[2]));
        }
    }

    @Test
    void nanRowsAreSkippedAndCountedOrFatal() {
        Path p = Fixtures.file("bad/nan_rows.npy");
        try (ActivationSource src = ActivationSources.open(p)) {
            HeldOutSplit split = HeldOutSplit.create(src.numRows(), 0, 1);
            try (BatchStream s = new BatchStream(src, split, 1, 1 << 20, BadRowPolicy.SKIP)) {
            assertEquals(4, s.badRows(), "rows 3, 50, 77 and 200 hold NaN or infinity");
            FloatMatrix batch = new FloatMatrix(253, src.dIn());
            s.next(batch);
            for (float v : batch.data()) {
                assertTrue(Float.isFinite(v));
            }
            }
            SaeException e = assertThrows(SaeException.class, () -> new BatchStream(src, split, 1, 1 << 20, BadRowPolicy.FAIL));
            assertTrue(e.getMessage().contains("row 3") && e.getMessage().contains("nan_rows.npy"), e.getMessage());
        }
    }
}
