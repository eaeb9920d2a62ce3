package org.saeforge.core.data;

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
import org.saeforge.core.tensor.Half;

/** Gathering rows by id as the GPU input pipeline does: as stored when the source allows it, else widened. */
class RowGatherTest {

    private static float decode(ByteBuffer b, RowGather.Stored s, int i) {
        switch (s) {
            case FLOAT16:
                return Half.toFloat(b.getShort(2 * i));
            case BFLOAT16:
                return Half.bf16ToFloat(b.getShort(2 * i));
            default:
                return b.getFloat(4 * i);
        }
    }

    /** Gathers shuffled ids at an offset in two parts and checks every element against readRows. */
    private static void assertGathersRows(ActivationSource src, RowGather.Stored expect, boolean asStored) {
        RowGather g = new RowGather(src);
        assertEquals(expect, g.stored());
        assertEquals(asStored, g.asStored());
        int d = src.dIn();
        assertEquals(d * expect.bytes(), g.rowBytes());
        long[] ids = {17, 3, 3, src.numRows() - 1, 0, 250, 99};
        ByteBuffer buf = ByteBuffer.allocate(64 + ids.length * g.rowBytes()).order(ByteOrder.LITTLE_ENDIAN);
        g.gather(ids, 0, 3, buf, 64);
        g.gather(ids, 3, ids.length, buf, 64 + 3 * g.rowBytes());
        ByteBuffer body = buf.slice(64, ids.length * g.rowBytes()).order(ByteOrder.LITTLE_ENDIAN);
        float[] row = new float[d];
        for (int r = 0; r < ids.length; r++) {
            src.readRows(ids[r], 1, row, 0);
            for (int c = 0; c < d; c++) {
                assertEquals(row[c], decode(body, expect, r * d + c), "row " + ids[r] + " col " + c);
            }
        }
        assertThrows(IndexOutOfBoundsException.class, () -> g.gather(ids, 0, ids.length, buf, 65));
    }

    @Test
    void float16ShardsAndFloat32FilesAreGatheredAsStored(@TempDir Path dir) {
        int d = 10;
        long rows = 300;
        float[] data = new float[(int) rows * d];
        SplittableRandom rnd = new SplittableRandom(3);
        for (int i = 0; i < data.length; i++) {
            data[i] = (float) rnd.nextGaussian();
        }
        Path npy = dir.resolve("x.npy");
        NpyWriter.write(npy, data, rows, d);
        try (NpySource src = NpySource.open(npy)) {
            assertGathersRows(src, RowGather.Stored.FLOAT32, true);
            ShardFolder.write(src, dir.resolve("f16"), "float16", 64L * d * 2, n -> { });
        }
        try (ActivationSource f16 = ActivationSources.open(dir.resolve("f16"))) {
            assertGathersRows(f16, RowGather.Stored.FLOAT16, true);
        }
    }

    /** A gather checks each file it reads once per call: bad ids and files changed since opening stop it with the file's name. */
    @Test
    void badIdsAndChangedFilesStopAGather(@TempDir Path dir) throws Exception {
        int d = 8;
        long rows = 200;
        Path npy = dir.resolve("x.npy");
        NpyWriter.write(npy, new float[(int) rows * d], rows, d);
        try (NpySource src = NpySource.open(npy)) {
            ShardFolder.write(src, dir.resolve("f16"), "float16", 50L * d * 2, n -> { });
        }
        for (Path p : new Path[] {npy, dir.resolve("f16")}) {
            try (ActivationSource src = ActivationSources.open(p)) {
                RowGather g = new RowGather(src);
                ByteBuffer buf = ByteBuffer.allocate(4 * g.rowBytes()).order(ByteOrder.LITTLE_ENDIAN);
                IndexOutOfBoundsException bad = assertThrows(IndexOutOfBoundsException.class,
                        () -> g.gather(new long[] {0, rows}, 0, 2, buf, 0));
                assertTrue(bad.getMessage().contains(p.getFileName().toString()), bad.getMessage());
                g.gather(new long[] {0, 1, 120, 199}, 0, 4, buf, 0);
                // the last shard (or the file) rewritten: the next gather that reads it stops, naming it
                Path changed = p.equals(npy) ? npy : lastShard(p);
                java.nio.file.Files.setLastModifiedTime(changed, java.nio.file.attribute.FileTime.fromMillis(
                        java.nio.file.Files.getLastModifiedTime(changed).toMillis() + 5000));
                org.saeforge.core.FileFormatException e = assertThrows(org.saeforge.core.FileFormatException.class,
                        () -> g.gather(new long[] {0, 199}, 0, 2, buf, 0));
                assertTrue(e.getMessage().contains(changed.getFileName().toString()) && e.getMessage().contains("changed while being read"),
                        e.getMessage());
            }
        }
    }

    private static Path lastShard(Path folder) throws java.io.IOException {
        try (java.util.stream.Stream<Path> files = java.nio.file.Files.list(folder)) {
            return files.filter(f -> !f.getFileName().toString().endsWith(".json")).sorted().reduce((a, b) -> b).orElseThrow();
        }
    }

    @Test
    void bfloat16IsGatheredAsStored() {
        assertGathersRows(new BatchStreamRowIdsTest.HalfSource(400, true, 9), RowGather.Stored.BFLOAT16, true);
    }

    @Test
    void sourcesWithoutRawReadsAreWidenedOnTheHost() {
        BatchStreamTest.IndexSource src = new BatchStreamTest.IndexSource(500, 0, -1);
        assertEquals(0, src.rawElementBytes());
        assertThrows(UnsupportedOperationException.class, () -> src.readRawRows(0, 1, ByteBuffer.allocate(64), 0));
        assertGathersRows(src, RowGather.Stored.FLOAT32, false);
        assertTrue(RowGather.Stored.FLOAT16.code() == 1 && RowGather.Stored.BFLOAT16.code() == 2 && RowGather.Stored.FLOAT32.code() == 0);
        assertFalse(new RowGather(src).asStored());
    }
}
