package org.saeforge.core.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.saeforge.core.FileFormatException;
import org.saeforge.core.SaeException;
import org.saeforge.core.tensor.Half;

/** Shard folders: written from any source, read back exactly (float32) or as float16 would round, with metadata. */
class ShardFolderTest {

    private static float[] all(ActivationSource s) {
        float[] a = new float[(int) s.numRows() * s.dIn()];
        s.readRows(0, (int) s.numRows(), a, 0);
        return a;
    }

    @Test
    void float32RoundTripWithMetadataAcrossShards(@TempDir Path dir) {
        Path out = dir.resolve("shards");
        List<Long> progress = new ArrayList<>();
        try (ActivationSource src = ActivationSources.open(DataFixtures.file("acts.h5"), "/chunked_gzip")) {
            // 60 rows per shard: 257 rows make 5 shards, the last partial
            ShardFolder.write(src, out, "float32", 60L * 48 * 4, progress::add);
        }
        assertEquals(257L, progress.get(progress.size() - 1));
        assertTrue(Files.exists(out.resolve("shard-00004.bin")));
        assertFalse(Files.exists(out.resolve("shard-00005.bin")));
        try (ActivationSource ref = ActivationSources.open(DataFixtures.file("acts.h5"), "/activations");
             ShardFolder s = ShardFolder.open(out)) {
            assertEquals(5, s.numShards());
            assertEquals("float32", s.dtype());
            assertArrayEquals(all(ref), all(s));
            float[] rows = new float[3 * 48];
            s.readRows(59, 3, rows, 0); // crosses shards 0 and 1
            float[] want = new float[3 * 48];
            ref.readRows(59, 3, want, 0);
            assertArrayEquals(want, rows);
            RowMetadata a = ref.metadata();
            RowMetadata b = s.metadata();
            assertTrue(b.hasModality() && b.hasLabel() && b.hasSourceId() && b.hasPosition());
            for (long r = 0; r < 257; r++) {
                assertEquals(a.modality(r), b.modality(r));
                assertEquals(a.sourceId(r), b.sourceId(r));
                assertEquals(a.position(r), b.position(r));
                assertEquals(a.label(r), b.label(r));
            }
        }
    }

    @Test
    void float16IsRoundedOnce(@TempDir Path dir) {
        Path out = dir.resolve("f16");
        try (ActivationSource src = ActivationSources.open(DataFixtures.file("acts_f32.npy"))) {
            ShardFolder.write(src, out, "float16", ShardFolder.DEFAULT_SHARD_BYTES, n -> { });
        }
        try (ActivationSource f16 = ActivationSources.open(DataFixtures.file("acts_f16.npy")); ActivationSource s = ActivationSources.open(out)) {
            assertEquals("float16", s.dtype());
            // numpy's astype(float16) and ours round to nearest even alike
            assertArrayEquals(all(f16), all(s));
            // the CSV sidecar of acts_f32.npy travels into the shard columns
            assertEquals("sample 3 text \u00e9\u2713", s.metadata().label(3));
            assertEquals(Modality.TEXT, s.metadata().modality(3));
        }
    }

    @Test
    void float16RangeIsChecked(@TempDir Path dir) {
        Path npy = dir.resolve("big.npy");
        NpyWriter.write(npy, new float[] {1, 2, 70000, 4}, 2, 2);
        try (ActivationSource src = ActivationSources.open(npy)) {
            SaeException e = assertThrows(SaeException.class, () -> ShardFolder.write(src, dir.resolve("o"), "float16", 1 << 20, n -> { }));
            assertTrue(e.getMessage().contains("row 1") && e.getMessage().contains("float16"), e.getMessage());
        }
        assertFalse(Files.exists(dir.resolve("o")));
        assertEquals(Half.toFloat(Half.fromFloat(65504f)), 65504f);
    }

    @Test
    void damagedFoldersFailAtOpen(@TempDir Path dir) throws IOException {
        Path out = dir.resolve("s");
        try (ActivationSource src = ActivationSources.open(DataFixtures.file("acts_f32.npy"))) {
            ShardFolder.write(src, out, "float32", 100L * 48 * 4, n -> { });
        }
        try (RandomAccessFile f = new RandomAccessFile(out.resolve("shard-00001.bin").toFile(), "rw")) {
            f.setLength(f.length() - 4);
        }
        FileFormatException e = assertThrows(FileFormatException.class, () -> ShardFolder.open(out));
        assertTrue(e.getMessage().contains("shard-00001.bin") && e.getMessage().contains("truncated"), e.getMessage());
        Files.delete(out.resolve("shard-00001.bin"));
        e = assertThrows(FileFormatException.class, () -> ShardFolder.open(out));
        assertTrue(e.getMessage().contains("shard-00001.bin") && e.getMessage().contains("missing"), e.getMessage());
        Files.writeString(out.resolve("shards.json"), "{\"format\": \"saeforge-shards\", \"version\": 1, \"d_in\": 48, \"dtype\": \"int8\"}");
        e = assertThrows(FileFormatException.class, () -> ShardFolder.open(out));
        assertTrue(e.getMessage().contains("shards.json") && e.getMessage().contains("dtype"), e.getMessage());
    }
}
