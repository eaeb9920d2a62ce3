package org.saeforge.core.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.saeforge.core.FileFormatException;
import org.saeforge.core.tensor.Half;

/** Several inputs as one source, folders and globs, bfloat16 safetensors, and files that change while being read. */
class SourcesTest {

    private static float[] all(ActivationSource s) {
        float[] a = new float[(int) s.numRows() * s.dIn()];
        s.readRows(0, (int) s.numRows(), a, 0);
        return a;
    }

    @Test
    void concatenatesInOrderWithMetadata() {
        String npy = DataFixtures.file("acts_f32.npy").toString();
        String h5 = DataFixtures.file("acts.h5").toString();
        try (ActivationSource one = ActivationSources.open(DataFixtures.file("acts_f32.npy"));
             ActivationSource two = ActivationSources.open(new ActivationSources.Spec(List.of(npy, h5), "/activations", null))) {
            assertTrue(two instanceof ConcatSource);
            assertEquals(514, two.numRows());
            float[] a = all(one);
            float[] b = all(two);
            for (int i = 0; i < a.length; i++) {
                assertEquals(a[i], b[i]);
                assertEquals(a[i], b[a.length + i]);
            }
            // reading across the boundary
            float[] mid = new float[2 * 48];
            two.readRows(256, 2, mid, 0);
            assertEquals(a[256 * 48], mid[0]);
            assertEquals(a[0], mid[48]);
            assertEquals(one.metadata().label(5), two.metadata().label(257 + 5));
            assertEquals(one.metadata().label(5), two.metadata().label(5));
        }
    }

    @Test
    void foldersAndGlobsExpandInNameOrder(@TempDir Path dir) throws IOException {
        float[] x = new float[4 * 3];
        for (int i = 0; i < x.length; i++) {
            x[i] = i;
        }
        NpyWriter.write(dir.resolve("b.npy"), x, 4, 3);
        NpyWriter.write(dir.resolve("a.npy"), x, 2, 3);
        Files.writeString(dir.resolve("notes.txt"), "not data");
        assertEquals(List.of(dir.resolve("a.npy"), dir.resolve("b.npy")), ActivationSources.resolve(List.of(dir.toString())));
        assertEquals(List.of(dir.resolve("b.npy")), ActivationSources.resolve(List.of(dir + "/b*.npy")));
        try (ActivationSource s = ActivationSources.open(new ActivationSources.Spec(List.of(dir + "/*.npy"), null, null))) {
            assertEquals(6, s.numRows());
            assertEquals(3, s.dIn());
        }
        assertThrows(org.saeforge.core.SaeException.class, () -> ActivationSources.resolve(List.of(dir + "/*.h5")));
    }

    @Test
    void bfloat16Safetensors(@TempDir Path dir) throws IOException {
        float[] want = {1.5f, -2.25f, 3.0e10f, 0f, -0.0078125f, 7f};
        String header = "{\"x\":{\"dtype\":\"BF16\",\"shape\":[3,2],\"data_offsets\":[0,12]}}";
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(8 + h.length + 12).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(h.length).put(h);
        for (float v : want) {
            b.putShort(Half.floatToBf16(v));
        }
        Path f = dir.resolve("x.safetensors");
        Files.write(f, b.array());
        try (ActivationSource s = ActivationSources.open(f)) {
            assertEquals("bfloat16", s.dtype());
            float[] got = all(s);
            for (int i = 0; i < want.length; i++) {
                assertEquals(Half.bf16ToFloat(Half.floatToBf16(want[i])), got[i]);
            }
        }
    }

    @Test
    void fileTruncatedWhileOpenStopsWithClearError(@TempDir Path dir) throws IOException {
        Path f = dir.resolve("t.npy");
        float[] x = new float[1000 * 64];
        java.util.Arrays.fill(x, 1f);
        NpyWriter.write(f, x, 1000, 64);
        try (ActivationSource s = ActivationSources.open(f)) {
            float[] buf = new float[10 * 64];
            s.readRows(0, 10, buf, 0);
            try (RandomAccessFile raf = new RandomAccessFile(f.toFile(), "rw")) {
                raf.setLength(4096);
            }
            FileFormatException e = assertThrows(FileFormatException.class, () -> s.readRows(900, 10, buf, 0));
            assertTrue(e.getMessage().contains("t.npy") && e.getMessage().contains("truncated"), e.getMessage());
        }
    }

    @Test
    void fileRewrittenWhileOpenStops(@TempDir Path dir) throws IOException {
        Path f = dir.resolve("r.npy");
        NpyWriter.write(f, new float[64], 8, 8);
        try (ActivationSource s = ActivationSources.open(f)) {
            Files.setLastModifiedTime(f, java.nio.file.attribute.FileTime.fromMillis(Files.getLastModifiedTime(f).toMillis() + 5000));
            FileFormatException e = assertThrows(FileFormatException.class, () -> s.readRows(0, 1, new float[8], 0));
            assertTrue(e.getMessage().contains("changed while being read"), e.getMessage());
        }
    }

    @Test
    void npzStoredMembersAreMappedInPlace(@TempDir Path dir) throws IOException {
        // a stored (uncompressed) .npz made with java.util.zip, as np.savez would
        Path npy = dir.resolve("m.npy");
        float[] x = {1, 2, 3, 4, 5, 6};
        NpyWriter.write(npy, x, 3, 2);
        byte[] bytes = Files.readAllBytes(npy);
        Path npz = dir.resolve("s.npz");
        try (java.util.zip.ZipOutputStream z = new java.util.zip.ZipOutputStream(Files.newOutputStream(npz))) {
            java.util.zip.ZipEntry e = new java.util.zip.ZipEntry("acts.npy");
            e.setMethod(java.util.zip.ZipEntry.STORED);
            e.setSize(bytes.length);
            java.util.zip.CRC32 crc = new java.util.zip.CRC32();
            crc.update(bytes);
            e.setCrc(crc.getValue());
            z.putNextEntry(e);
            z.write(bytes);
            z.closeEntry();
        }
        try (ActivationSource s = ActivationSources.open(npz)) {
            assertArrayEquals(x, all(s));
        }
    }
}
