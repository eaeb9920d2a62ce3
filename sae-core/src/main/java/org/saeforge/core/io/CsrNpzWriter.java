package org.saeforge.core.io;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.zip.CRC32;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;
import org.saeforge.core.SaeException;
import org.saeforge.core.tensor.SparseCodes;

/**
 * Streams sparse codes into a {@code .npz} holding the CSR arrays that {@code scipy.sparse.csr_matrix((data, indices,
 * indptr), shape=shape)} takes: {@code indptr} int64 [rows + 1], {@code indices} int32 [nnz], {@code data} float32
 * [nnz], {@code shape} int64 [2] = (rows, numLatents). Only nonzero activations are stored, indices ascending within
 * a row (canonical CSR).
 *
 * <p>Rows are appended batch by batch into temporary {@code .npy} files next to the target (their headers have a
 * fixed size and are rewritten with the final shapes), so memory does not grow with the row count; {@link #finish()}
 * packs them into an uncompressed zip, as {@code numpy.savez} does, and moves it into place atomically.
 * {@link #close()} without {@code finish()} removes the temporary files and leaves no target.
 */
public final class CsrNpzWriter implements AutoCloseable {
    /** Reserved .npy header size: room for any int64 shape, a multiple of 64 as the format asks. */
    static final int HEADER_BYTES = 128;
    /** DOS epoch (1980-01-01): fixed member times make identical codes give identical files. */
    private static final long ZIP_TIME = 315_532_800_000L;

    private final Path target;
    private final int numLatents;
    private final Path partsDir;
    private final FileChannel indptr;
    private final FileChannel indices;
    private final FileChannel data;
    private final ByteBuffer indptrBuf = ByteBuffer.allocate(1 << 16).order(ByteOrder.LITTLE_ENDIAN);
    private final ByteBuffer indicesBuf = ByteBuffer.allocate(1 << 18).order(ByteOrder.LITTLE_ENDIAN);
    private final ByteBuffer dataBuf = ByteBuffer.allocate(1 << 18).order(ByteOrder.LITTLE_ENDIAN);
    private int[] rowIdx = new int[64];
    private float[] rowVal = new float[64];
    private long rows;
    private long nnz;
    private boolean done;

    private CsrNpzWriter(Path target, int numLatents) throws IOException {
        this.target = target.toAbsolutePath();
        this.numLatents = numLatents;
        this.partsDir = this.target.resolveSibling(this.target.getFileName() + ".parts-" + ProcessHandle.current().pid());
        Files.createDirectories(this.target.getParent());
        AtomicFiles.deleteRecursively(partsDir);
        Files.createDirectories(partsDir);
        indptr = open("indptr.npy");
        indices = open("indices.npy");
        data = open("data.npy");
        indptrBuf.putLong(0);
    }

    private FileChannel open(String name) throws IOException {
        FileChannel ch = FileChannel.open(partsDir.resolve(name), StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING,
                StandardOpenOption.WRITE);
        ch.position(HEADER_BYTES);
        return ch;
    }

    /** Starts writing codes of {@code numLatents} latents to {@code target} (written by {@link #finish()}). */
    public static CsrNpzWriter create(Path target, int numLatents) {
        if (numLatents <= 0) {
            throw new IllegalArgumentException("numLatents must be positive, got " + numLatents);
        }
        try {
            return new CsrNpzWriter(target, numLatents);
        } catch (IOException e) {
            throw SaeException.internal(target + ": cannot create temporary files (" + e.getMessage() + ")", e);
        }
    }

    /**
     * Appends every row of {@code codes}; rows flagged in {@code emptyRows} (may be null) are written without entries,
     * which keeps row numbers aligned with the input when a row cannot be encoded.
     */
    public void append(SparseCodes codes, boolean[] emptyRows) {
        if (done) {
            throw new IllegalStateException("append after finish");
        }
        if (codes.numLatents() != numLatents) {
            throw new IllegalArgumentException("codes have " + codes.numLatents() + " latents, writer expects " + numLatents);
        }
        int[] idx = codes.indices();
        float[] val = codes.values();
        try {
            for (int r = 0; r < codes.rows(); r++) {
                int n = 0;
                if (emptyRows == null || !emptyRows[r]) {
                    int len = codes.rowEnd(r) - codes.rowStart(r);
                    if (rowIdx.length < len) {
                        rowIdx = new int[len];
                        rowVal = new float[len];
                    }
                    for (int p = codes.rowStart(r); p < codes.rowEnd(r); p++) {
                        if (val[p] != 0f) {
                            n = insertSorted(n, idx[p], val[p]);
                        }
                    }
                }
                for (int i = 0; i < n; i++) {
                    put(indices, indicesBuf).putInt(rowIdx[i]);
                    put(data, dataBuf).putFloat(rowVal[i]);
                }
                nnz += n;
                rows++;
                put(indptr, indptrBuf).putLong(nnz);
            }
        } catch (IOException e) {
            throw SaeException.internal(target + ": cannot write codes (" + e.getMessage() + ")", e);
        }
    }

    /** Insertion into the row buffer by ascending latent index (rows hold k entries, k small). */
    private int insertSorted(int n, int index, float value) {
        int i = n;
        while (i > 0 && rowIdx[i - 1] > index) {
            rowIdx[i] = rowIdx[i - 1];
            rowVal[i] = rowVal[i - 1];
            i--;
        }
        rowIdx[i] = index;
        rowVal[i] = value;
        return n + 1;
    }

    /** The buffer, flushed to its channel first when it has no room for one more 8-byte value. */
    private static ByteBuffer put(FileChannel ch, ByteBuffer buf) throws IOException {
        if (buf.remaining() < 8) {
            flush(ch, buf);
        }
        return buf;
    }

    private static void flush(FileChannel ch, ByteBuffer buf) throws IOException {
        buf.flip();
        while (buf.hasRemaining()) {
            ch.write(buf);
        }
        buf.clear();
    }

    public long rows() {
        return rows;
    }

    public long nnz() {
        return nnz;
    }

    /** Completes the arrays and writes the .npz atomically; the writer is closed afterwards. */
    public void finish() {
        if (done) {
            throw new IllegalStateException("finish after finish or close");
        }
        try {
            flush(indptr, indptrBuf);
            flush(indices, indicesBuf);
            flush(data, dataBuf);
            writeHeader(indptr, "<i8", rows + 1);
            writeHeader(indices, "<i4", nnz);
            writeHeader(data, "<f4", nnz);
            for (FileChannel ch : new FileChannel[] {indptr, indices, data}) {
                ch.close();
            }
            done = true;
            ByteBuffer shape = ByteBuffer.allocate(HEADER_BYTES + 16).order(ByteOrder.LITTLE_ENDIAN);
            shape.put(npyHeader("<i8", 2)).putLong(rows).putLong(numLatents);
            AtomicFiles.write(target, tmp -> {
                try (ZipOutputStream zip = new ZipOutputStream(new java.io.BufferedOutputStream(Files.newOutputStream(tmp), 1 << 20))) {
                    storeFile(zip, "indptr.npy", partsDir.resolve("indptr.npy"));
                    storeFile(zip, "indices.npy", partsDir.resolve("indices.npy"));
                    storeFile(zip, "data.npy", partsDir.resolve("data.npy"));
                    storeBytes(zip, "shape.npy", shape.array());
                }
            });
        } catch (IOException e) {
            throw SaeException.internal(target + ": cannot write codes (" + e.getMessage() + ")", e);
        } finally {
            close();
        }
    }

    private static void writeHeader(FileChannel ch, String descr, long length) throws IOException {
        ByteBuffer h = ByteBuffer.wrap(npyHeader(descr, length));
        long pos = 0;
        while (h.hasRemaining()) {
            pos += ch.write(h, pos);
        }
    }

    /** A version 1.0 .npy header for a 1-D array, padded with spaces to exactly {@link #HEADER_BYTES}. */
    static byte[] npyHeader(String descr, long length) {
        String dict = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': (" + length + ",), }";
        int textLen = HEADER_BYTES - 10;
        String text = dict + " ".repeat(textLen - dict.length() - 1) + "\n";
        ByteBuffer b = ByteBuffer.allocate(HEADER_BYTES).order(ByteOrder.LITTLE_ENDIAN);
        b.put((byte) 0x93).put("NUMPY".getBytes(StandardCharsets.US_ASCII)).put((byte) 1).put((byte) 0);
        b.putShort((short) textLen);
        b.put(text.getBytes(StandardCharsets.US_ASCII));
        return b.array();
    }

    private static void storeFile(ZipOutputStream zip, String name, Path file) throws IOException {
        CRC32 crc = new CRC32();
        ByteBuffer buf = ByteBuffer.allocateDirect(1 << 20);
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            while (ch.read(buf) >= 0) {
                buf.flip();
                crc.update(buf);
                buf.clear();
            }
        }
        long size = Files.size(file);
        zip.putNextEntry(storedEntry(name, size, crc.getValue()));
        try (var in = Files.newInputStream(file)) {
            in.transferTo(zip);
        }
        zip.closeEntry();
    }

    private static void storeBytes(ZipOutputStream zip, String name, byte[] bytes) throws IOException {
        CRC32 crc = new CRC32();
        crc.update(bytes);
        zip.putNextEntry(storedEntry(name, bytes.length, crc.getValue()));
        zip.write(bytes);
        zip.closeEntry();
    }

    private static ZipEntry storedEntry(String name, long size, long crc) {
        ZipEntry e = new ZipEntry(name);
        e.setMethod(ZipEntry.STORED);
        e.setSize(size);
        e.setCompressedSize(size);
        e.setCrc(crc);
        e.setTime(ZIP_TIME);
        return e;
    }

    /** Releases the temporary files (the target, if finished, stays). */
    @Override
    public void close() {
        for (FileChannel ch : new FileChannel[] {indptr, indices, data}) {
            try {
                ch.close();
            } catch (IOException e) {
                // closing a temporary part: nothing to save
            }
        }
        done = true;
        try {
            AtomicFiles.deleteRecursively(partsDir);
        } catch (IOException e) {
            // a leftover .parts-* folder never shadows the target
        }
    }
}
