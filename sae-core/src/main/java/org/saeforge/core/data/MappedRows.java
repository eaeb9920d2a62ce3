package org.saeforge.core.data;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.MappedByteBuffer;
import java.nio.ShortBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import org.saeforge.core.FileFormatException;
import org.saeforge.core.tensor.Half;

/**
 * Rows of raw little-endian row-major floats ({@code float32}, {@code float16} or {@code bfloat16}) at a byte offset
 * of a file, memory-mapped in segments of whole rows (at most 1 GiB each) so files of any size are read without
 * loading them; the OS page cache bounds memory. Shared by the .npy, .npz (stored members), safetensors and shard
 * readers. A file truncated after mapping makes the JVM raise an {@link InternalError} on access; it is turned into
 * a {@link FileFormatException} naming the file.
 */
final class MappedRows {
    private static final long SEGMENT_BYTES = 1L << 30;

    private final Path path;
    private final int dIn;
    private final long rows;
    private final DType dtype;
    private final long rowsPerSegment;
    private final FloatBuffer[] f32;
    private final ShortBuffer[] f16;
    private final ByteBuffer[] raw;
    private final FileGuard guard;

    /** Element types of raw rows. */
    enum DType {
        FLOAT32("float32", 4),
        FLOAT16("float16", 2),
        BFLOAT16("bfloat16", 2);

        final String name;
        final int bytes;

        DType(String name, int bytes) {
            this.name = name;
            this.bytes = bytes;
        }

        static DType fromName(String s) {
            for (DType t : values()) {
                if (t.name.equals(s)) {
                    return t;
                }
            }
            return null;
        }
    }

    /**
     * Maps {@code rows x dIn} elements starting at {@code offset}; the caller has checked that the file holds them.
     */
    MappedRows(Path path, FileChannel ch, long offset, long rows, int dIn, DType dtype) throws IOException {
        this.path = path;
        this.dIn = dIn;
        this.rows = rows;
        this.dtype = dtype;
        long rowBytes = (long) dIn * dtype.bytes;
        this.rowsPerSegment = Math.max(1, SEGMENT_BYTES / rowBytes);
        int segments = (int) Math.max(1, (rows + rowsPerSegment - 1) / rowsPerSegment);
        f32 = dtype == DType.FLOAT32 ? new FloatBuffer[segments] : null;
        f16 = dtype != DType.FLOAT32 ? new ShortBuffer[segments] : null;
        raw = new ByteBuffer[segments];
        for (int s = 0; s < segments; s++) {
            long firstRow = s * rowsPerSegment;
            long segRows = Math.min(rowsPerSegment, rows - firstRow);
            MappedByteBuffer mb = ch.map(FileChannel.MapMode.READ_ONLY, offset + firstRow * rowBytes, Math.max(0, segRows * rowBytes));
            mb.order(ByteOrder.LITTLE_ENDIAN);
            raw[s] = mb;
            if (f32 != null) {
                f32[s] = mb.asFloatBuffer();
            } else {
                f16[s] = mb.asShortBuffer();
            }
        }
        this.guard = new FileGuard(path);
    }

    long rows() {
        return rows;
    }

    DType dtype() {
        return dtype;
    }

    void readRows(long first, int count, float[] dst, int dstOffset) {
        if (first < 0 || count < 0 || first + count > rows) {
            throw new IndexOutOfBoundsException("rows [" + first + ", " + (first + count) + ") outside [0, " + rows + ") of " + path);
        }
        guard.check();
        try {
            copy(first, count, dst, dstOffset);
        } catch (InternalError e) {
            throw faulted(e);
        }
    }

    /** Copies rows [first, first + count) as stored into dst at byte index dstIndex (see ActivationSource#readRawRows). */
    void readRawRows(long first, int count, ByteBuffer dst, int dstIndex) {
        if (first < 0 || count < 0 || first + count > rows) {
            throw new IndexOutOfBoundsException("rows [" + first + ", " + (first + count) + ") outside [0, " + rows + ") of " + path);
        }
        long rowBytes = (long) dIn * dtype.bytes;
        requireRoom(count, rowBytes, dst, dstIndex);
        guard.check();
        try {
            int done = 0;
            while (done < count) {
                long row = first + done;
                int seg = (int) (row / rowsPerSegment);
                long inSeg = row - seg * rowsPerSegment;
                int n = (int) Math.min(count - done, rowsPerSegment - inSeg);
                dst.put(dstIndex + (int) (done * rowBytes), raw[seg], (int) (inSeg * rowBytes), (int) (n * rowBytes));
                done += n;
            }
        } catch (InternalError e) {
            throw faulted(e);
        }
    }

    /**
     * Copies the rows {@code ids[from .. to)} as stored into dst from byte index dstIndex on, checking the file once
     * (see ActivationSource#readRawRowsAt).
     */
    void readRawRowsAt(long[] ids, int from, int to, ByteBuffer dst, int dstIndex) {
        int rowBytes = dIn * dtype.bytes;
        requireRoom(to - from, rowBytes, dst, dstIndex);
        for (int i = from; i < to; i++) {
            if (ids[i] < 0 || ids[i] >= rows) {
                throw new IndexOutOfBoundsException("row " + ids[i] + " outside [0, " + rows + ") of " + path);
            }
        }
        guard.check();
        try {
            for (int i = from; i < to; i++) {
                copyRawRow(ids[i], dst, dstIndex + (i - from) * rowBytes, rowBytes);
            }
        } catch (InternalError e) {
            throw faulted(e);
        }
    }

    /** Checks that the file is unchanged since it was opened (see FileGuard). */
    void checkFile() {
        guard.check();
    }

    /**
     * The error to throw for a fault on a mapped page (SIGBUS past the new end of a truncated file): the guard's own
     * message when it sees the change, else a general one naming the file.
     */
    FileFormatException faulted(InternalError e) {
        guard.check();
        return new FileFormatException(path, "truncated or changed while being read", e);
    }

    /** Throws unless {@code dst} holds {@code count} rows of {@code rowBytes} bytes from byte index {@code dstIndex} on. */
    static void requireRoom(long count, long rowBytes, ByteBuffer dst, int dstIndex) {
        if (dstIndex < 0 || dstIndex + count * rowBytes > dst.limit()) {
            throw new IndexOutOfBoundsException(count + " raw rows of " + rowBytes + " bytes at " + dstIndex + " overflow a buffer of "
                    + dst.limit());
        }
    }

    /** Copies one row (in range, checked by the caller) as stored; a fault on a truncated file is the caller's to report. */
    void copyRawRow(long row, ByteBuffer dst, int dstIndex, int rowBytes) {
        int seg = (int) (row / rowsPerSegment);
        long inSeg = row - seg * rowsPerSegment;
        dst.put(dstIndex, raw[seg], (int) (inSeg * rowBytes), rowBytes);
    }

    private void copy(long first, int count, float[] dst, int dstOffset) {
        int done = 0;
        short[] tmp = null;
        while (done < count) {
            long row = first + done;
            int seg = (int) (row / rowsPerSegment);
            long inSeg = row - seg * rowsPerSegment;
            int n = (int) Math.min(count - done, rowsPerSegment - inSeg);
            int index = (int) (inSeg * dIn);
            int len = n * dIn;
            int off = dstOffset + done * dIn;
            if (f32 != null) {
                f32[seg].get(index, dst, off, len);
            } else {
                if (tmp == null || tmp.length < len) {
                    tmp = new short[len];
                }
                f16[seg].get(index, tmp, 0, len);
                if (dtype == DType.FLOAT16) {
                    HalfTable.decode(tmp, dst, off, len);
                } else {
                    for (int i = 0; i < len; i++) {
                        dst[off + i] = Half.bf16ToFloat(tmp[i]);
                    }
                }
            }
            done += n;
        }
    }
}
