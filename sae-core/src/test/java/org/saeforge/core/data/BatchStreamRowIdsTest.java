package org.saeforge.core.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.saeforge.core.SaeException;
import org.saeforge.core.tensor.FloatMatrix;
import org.saeforge.core.tensor.Half;

/**
 * Row ids of batches: the ids-only stream (what the GPU pipeline reads) serves exactly the rows of the ordinary stream,
 * in the same order, with the same skip counts; raw reads return rows as stored.
 */
class BatchStreamRowIdsTest {
    private static final int D = 12;

    /** Rows as stored in 2-byte elements (float16 or bfloat16), with raw reads; rows in {@code bad} hold an infinity. */
    static final class HalfSource implements ActivationSource {
        final short[] data;
        final long rows;
        final boolean bf16;

        HalfSource(long rows, boolean bf16, long seed, long... bad) {
            this.rows = rows;
            this.bf16 = bf16;
            this.data = new short[(int) rows * D];
            SplittableRandom rnd = new SplittableRandom(seed);
            for (int i = 0; i < data.length; i++) {
                float v = (float) (rnd.nextGaussian() * (1 + (i / D) % 5));
                data[i] = bf16 ? Half.floatToBf16(v) : Half.fromFloat(v);
            }
            for (long r : bad) {
                float v = r % 2 == 0 ? Float.POSITIVE_INFINITY : Float.NaN;
                data[(int) r * D + (int) (r % D)] = bf16 ? Half.floatToBf16(v) : Half.fromFloat(v);
            }
        }

        @Override
        public Path path() {
            return Path.of(bf16 ? "half-source-bf16" : "half-source-f16");
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
            return bf16 ? "bfloat16" : "float16";
        }

        @Override
        public void readRows(long first, int count, float[] dst, int dstOffset) {
            for (int i = 0; i < count * D; i++) {
                short h = data[(int) first * D + i];
                dst[dstOffset + i] = bf16 ? Half.bf16ToFloat(h) : Half.toFloat(h);
            }
        }

        @Override
        public int rawElementBytes() {
            return 2;
        }

        @Override
        public void readRawRows(long first, int count, ByteBuffer dst, int dstIndex) {
            for (int i = 0; i < count * D; i++) {
                dst.putShort(dstIndex + 2 * i, data[(int) first * D + i]);
            }
        }

        @Override
        public void close() {
        }
    }

    /**
     * Draws {@code batches} batches from an ordinary stream and the ids-only stream of the same arguments and checks
     * that they name the same rows, that every served row is the source row times the scale, and that the skip counts
     * agree; returns the number of rows skipped as bad.
     */
    private static long assertSameRows(ActivationSource src, HeldOutSplit split, BatchStream.Options options, int batches, int b,
                                       boolean expectInMemory) {
        try (BatchStream rows = new BatchStream(src, split, 5, options);
             BatchStream ids = BatchStream.rowIdsOnly(src, split, 5, options)) {
            assertEquals(expectInMemory, rows.inMemory());
            assertEquals(expectInMemory, ids.inMemory());
            assertTrue(ids.rowIdsOnly());
            FloatMatrix batch = new FloatMatrix(b, D);
            long[] a = new long[b];
            long[] c = new long[b + 3];
            float[] one = new float[D];
            for (int i = 0; i < batches; i++) {
                rows.next(batch, a);
                ids.nextRowIds(c, 3, b);
                for (int r = 0; r < b; r++) {
                    assertEquals(a[r], c[3 + r], "batch " + i + " row " + r);
                    assertFalse(split.isEval(a[r]), "held-out row served");
                    src.readRows(a[r], 1, one, 0);
                    for (int j = 0; j < D; j++) {
                        assertEquals(one[j] * options.scale(), batch.get(r, j), "batch " + i + " row " + r + " col " + j);
                    }
                }
            }
            assertEquals(rows.rowsServed(), ids.rowsServed());
            assertEquals(rows.badRows(), ids.badRows(), "bad rows");
            assertEquals(rows.normDropped(), ids.normDropped(), "outliers");
            assertEquals(rows.epoch(), ids.epoch(), "epoch");
            return ids.badRows();
        }
    }

    @Test
    void idsOnlyStreamingServesTheSameRowsAsStored() {
        long rows = 3 * BatchStream.CHUNK_ROWS + 77;
        HalfSource src = new HalfSource(rows, false, 1, 5, 6, 4100, 9000, rows - 1);
        HeldOutSplit split = HeldOutSplit.create(rows, 300, 2);
        // a budget below the data: streaming through a shuffle buffer of 700 rows, several passes over the chunks
        long bad = assertSameRows(src, split, new BatchStream.Options(700L * D * 4, BadRowPolicy.SKIP, Double.POSITIVE_INFINITY, 0.5f),
                60, 512, false);
        assertTrue(bad >= 4, "the stored-element check found the bad rows: " + bad);
    }

    @Test
    void idsOnlyInMemoryServesTheSameRows() {
        long rows = 2 * BatchStream.CHUNK_ROWS + 5;
        HalfSource src = new HalfSource(rows, true, 2, 0, 1, 8000);
        HeldOutSplit split = HeldOutSplit.create(rows, 100, 3);
        long bad = assertSameRows(src, split, new BatchStream.Options(1L << 30, BadRowPolicy.SKIP, Double.POSITIVE_INFINITY, 1f), 25, 700,
                true);
        assertTrue(bad >= 2, "the bfloat16 check found the bad rows: " + bad);
    }

    @Test
    void idsOnlyWithANormLimitChecksWidenedRows() {
        long rows = 2 * BatchStream.CHUNK_ROWS + 999;
        HalfSource src = new HalfSource(rows, false, 3, 17, 4097);
        HeldOutSplit split = HeldOutSplit.create(rows, 50, 4);
        BatchStream.Options o = new BatchStream.Options(500L * D * 4, BadRowPolicy.SKIP, 9.0, 2f);
        assertSameRows(src, split, o, 40, 256, false);
        try (BatchStream s = BatchStream.rowIdsOnly(src, split, 5, o)) {
            long[] ids = new long[256];
            for (int i = 0; i < 20; i++) {
                s.nextRowIds(ids, 0, 256);
            }
            assertTrue(s.normDropped() > 0, "the limit dropped rows");
        }
    }

    @Test
    void float32SourcesAreCheckedWidened(@TempDir Path dir) {
        long rows = 2 * BatchStream.CHUNK_ROWS + 31;
        float[] data = new float[(int) rows * D];
        SplittableRandom rnd = new SplittableRandom(9);
        for (int i = 0; i < data.length; i++) {
            data[i] = (float) rnd.nextGaussian();
        }
        data[7 * D] = Float.NaN;
        data[5000 * D + 3] = Float.NEGATIVE_INFINITY;
        Path f = dir.resolve("x.npy");
        NpyWriter.write(f, data, rows, D);
        try (NpySource src = NpySource.open(f)) {
            HeldOutSplit split = HeldOutSplit.create(rows, 64, 1);
            assertSameRows(src, split, new BatchStream.Options(300L * D * 4, BadRowPolicy.SKIP, Double.POSITIVE_INFINITY, 1f), 30, 128,
                    false);
        }
    }

    @Test
    void idsOnlyFailsOnABadRowAsTheOrdinaryStreamDoes() {
        long rows = BatchStream.CHUNK_ROWS + 10;
        HalfSource src = new HalfSource(rows, false, 4, 33);
        HeldOutSplit split = HeldOutSplit.create(rows, 0, 1);
        BatchStream.Options o = new BatchStream.Options(100L * D * 4, BadRowPolicy.FAIL, Double.POSITIVE_INFINITY, 1f);
        SaeException rowsError = assertThrows(SaeException.class, () -> drain(new BatchStream(src, split, 1, o)));
        SaeException idsError = assertThrows(SaeException.class, () -> drain(BatchStream.rowIdsOnly(src, split, 1, o)));
        assertEquals(rowsError.getMessage(), idsError.getMessage());
        assertTrue(idsError.getMessage().contains("row 33 holds NaN or infinity"), idsError.getMessage());
    }

    private static void drain(BatchStream s) {
        try (s) {
            long[] ids = new long[64];
            FloatMatrix m = new FloatMatrix(64, D);
            for (int i = 0; i < 400; i++) {
                if (s.rowIdsOnly()) {
                    s.nextRowIds(ids, 0, 64);
                } else {
                    s.next(m);
                }
            }
        }
    }

    @Test
    void anIdsOnlyStreamServesNoRows() {
        HalfSource src = new HalfSource(100, false, 5);
        try (BatchStream s = BatchStream.rowIdsOnly(src, HeldOutSplit.create(100, 0, 1), 1,
                BatchStream.Options.of(1 << 20, BadRowPolicy.SKIP))) {
            assertThrows(IllegalStateException.class, () -> s.next(new FloatMatrix(4, D)));
            assertThrows(IllegalArgumentException.class, () -> s.nextRowIds(new long[4], 2, 3));
        }
    }

    @Test
    void shardFoldersAndNpyFilesReadRowsAsStored(@TempDir Path dir) {
        long rows = 1000;
        float[] data = new float[(int) rows * D];
        SplittableRandom rnd = new SplittableRandom(11);
        for (int i = 0; i < data.length; i++) {
            data[i] = (float) rnd.nextGaussian();
        }
        Path npy = dir.resolve("x.npy");
        NpyWriter.write(npy, data, rows, D);
        Path shards = dir.resolve("shards");
        try (NpySource src = NpySource.open(npy)) {
            assertEquals(4, src.rawElementBytes());
            ByteBuffer raw = ByteBuffer.allocate(10 * D * 4 + 8).order(ByteOrder.LITTLE_ENDIAN);
            src.readRawRows(500, 10, raw, 8);
            for (int i = 0; i < 10 * D; i++) {
                assertEquals(data[500 * D + i], raw.getFloat(8 + 4 * i));
            }
            // shards of 100 rows: a read of 250 rows crosses three shard boundaries
            ShardFolder.write(src, shards, "float16", 100L * D * 2, n -> { });
        }
        try (ActivationSource folder = ActivationSources.open(shards)) {
            assertEquals(2, folder.rawElementBytes());
            ByteBuffer raw = ByteBuffer.allocate(250 * D * 2).order(ByteOrder.LITTLE_ENDIAN);
            folder.readRawRows(120, 250, raw, 0);
            float[] widened = new float[250 * D];
            folder.readRows(120, 250, widened, 0);
            short[] stored = new short[250 * D];
            raw.asShortBuffer().get(stored);
            float[] decoded = new float[250 * D];
            for (int i = 0; i < decoded.length; i++) {
                decoded[i] = Half.toFloat(stored[i]);
            }
            assertArrayEquals(widened, decoded);
            assertThrows(IndexOutOfBoundsException.class, () -> folder.readRawRows(990, 20, raw, 0));
            assertThrows(IndexOutOfBoundsException.class, () -> folder.readRawRows(0, 251, raw, 0));
        }
    }
}
