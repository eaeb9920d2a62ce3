package org.saeforge.core.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.saeforge.core.tensor.SparseCodes;

/** The CSR .npz: members, dtypes, shapes and contents, read back byte by byte. */
class CsrNpzWriterTest {
    @TempDir
    Path tmp;

    /** A member's .npy header dictionary and its data bytes. */
    record Member(String header, ByteBuffer data) {
    }

    static Member member(ZipFile zip, String name) throws IOException {
        ZipEntry e = zip.getEntry(name);
        assertEquals(ZipEntry.STORED, e.getMethod(), name + " is stored uncompressed, as numpy.savez does");
        byte[] all = zip.getInputStream(e).readAllBytes();
        ByteBuffer b = ByteBuffer.wrap(all).order(ByteOrder.LITTLE_ENDIAN);
        assertEquals((byte) 0x93, b.get(0));
        assertEquals("NUMPY", new String(all, 1, 5, StandardCharsets.US_ASCII));
        int headerLen = b.getShort(8) & 0xffff;
        assertEquals(0, (10 + headerLen) % 64, "header padded to 64 bytes");
        String header = new String(all, 10, headerLen, StandardCharsets.US_ASCII);
        assertTrue(header.endsWith("\n"));
        b.position(10 + headerLen);
        return new Member(header, b.slice().order(ByteOrder.LITTLE_ENDIAN));
    }

    @Test
    void writesCanonicalCsrAcrossBatches() throws IOException {
        SparseCodes a = SparseCodes.fixedK(2, 10, 3);
        int[] ia = {7, 2, 5, 9, 1, 4};
        float[] va = {3f, 2f, 0f, 1.5f, 0.5f, 0.25f};
        System.arraycopy(ia, 0, a.indices(), 0, 6);
        System.arraycopy(va, 0, a.values(), 0, 6);
        SparseCodes b = SparseCodes.fixedK(2, 10, 3);
        int[] ib = {0, 8, 3, 6, 2, 1};
        float[] vb = {9f, 8f, 7f, 6f, 5f, 4f};
        System.arraycopy(ib, 0, b.indices(), 0, 6);
        System.arraycopy(vb, 0, b.values(), 0, 6);

        Path out = tmp.resolve("codes.npz");
        try (CsrNpzWriter w = CsrNpzWriter.create(out, 10)) {
            w.append(a, null);
            w.append(b, new boolean[] {true, false});
            assertEquals(4, w.rows());
            w.finish();
        }
        try (ZipFile zip = new ZipFile(out.toFile())) {
            Member indptr = member(zip, "indptr.npy");
            assertTrue(indptr.header().contains("'descr': '<i8'") && indptr.header().contains("'shape': (5,)"), indptr.header());
            long[] ip = new long[5];
            indptr.data().asLongBuffer().get(ip);
            assertArrayEquals(new long[] {0, 2, 5, 5, 8}, ip, "zero entries dropped, the flagged row empty");

            Member indices = member(zip, "indices.npy");
            assertTrue(indices.header().contains("'descr': '<i4'") && indices.header().contains("'shape': (8,)"), indices.header());
            int[] ix = new int[8];
            indices.data().asIntBuffer().get(ix);
            assertArrayEquals(new int[] {2, 7, 1, 4, 9, 1, 2, 6}, ix, "indices ascending within each row");

            Member data = member(zip, "data.npy");
            assertTrue(data.header().contains("'descr': '<f4'") && data.header().contains("'shape': (8,)"), data.header());
            float[] dv = new float[8];
            data.data().asFloatBuffer().get(dv);
            assertArrayEquals(new float[] {2f, 3f, 0.5f, 0.25f, 1.5f, 4f, 5f, 6f}, dv);

            Member shape = member(zip, "shape.npy");
            assertTrue(shape.header().contains("'descr': '<i8'") && shape.header().contains("'shape': (2,)"));
            assertEquals(4, shape.data().getLong(0));
            assertEquals(10, shape.data().getLong(8));
        }
        try (var files = Files.list(tmp)) {
            assertEquals(1, files.count(), "temporary parts are removed");
        }
    }

    @Test
    void closeWithoutFinishLeavesNothing() throws IOException {
        Path out = tmp.resolve("codes.npz");
        try (CsrNpzWriter w = CsrNpzWriter.create(out, 4)) {
            w.append(SparseCodes.fixedK(3, 4, 1), null);
        }
        assertFalse(Files.exists(out));
        try (var files = Files.list(tmp)) {
            assertEquals(0, files.count());
        }
    }
}
