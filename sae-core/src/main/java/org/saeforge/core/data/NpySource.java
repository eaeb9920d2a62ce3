package org.saeforge.core.data;

import java.io.IOException;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.MappedByteBuffer;
import java.nio.ShortBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import org.saeforge.core.FileFormatException;
import org.saeforge.core.tensor.Half;

/**
 * A memory-mapped {@code .npy} activation file: 2-D {@code [rows, dIn]} or 3-D {@code [n, tokens, dIn]} (flattened to
 * rows), C order, little-endian float32 or float16. The data region is mapped in segments of whole rows (at most
 * 1 GiB each), so files of any size are read without loading them; the OS page cache bounds memory.
 */
public final class NpySource implements ActivationSource {
    private static final long SEGMENT_BYTES = 1L << 30;

    private final Path path;
    private final NpyFile header;
    private final int dIn;
    private final long rows;
    private final int elemBytes;
    private final long rowsPerSegment;
    private final FloatBuffer[] f32;
    private final ShortBuffer[] f16;

    private NpySource(Path path, NpyFile header, int dIn, long rows, int elemBytes, FileChannel ch) throws IOException {
        this.path = path;
        this.header = header;
        this.dIn = dIn;
        this.rows = rows;
        this.elemBytes = elemBytes;
        long rowBytes = (long) dIn * elemBytes;
        this.rowsPerSegment = Math.max(1, SEGMENT_BYTES / rowBytes);
        int segments = (int) Math.max(1, (rows + rowsPerSegment - 1) / rowsPerSegment);
        f32 = elemBytes == 4 ? new FloatBuffer[segments] : null;
        f16 = elemBytes == 2 ? new ShortBuffer[segments] : null;
        for (int s = 0; s < segments; s++) {
            long firstRow = s * rowsPerSegment;
            long segRows = Math.min(rowsPerSegment, rows - firstRow);
            MappedByteBuffer mb = ch.map(FileChannel.MapMode.READ_ONLY, header.dataOffset() + firstRow * rowBytes,
                    Math.max(0, segRows * rowBytes));
            mb.order(ByteOrder.LITTLE_ENDIAN);
            if (elemBytes == 4) {
                f32[s] = mb.asFloatBuffer();
            } else {
                f16[s] = mb.asShortBuffer();
            }
        }
    }

    /** Opens and validates a .npy activation file. */
    public static NpySource open(Path path) {
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            NpyFile h = NpyFile.parse(path, ch);
            int elemBytes = h.floatBytes();
            if (elemBytes < 0) {
                throw new FileFormatException(path, "dtype " + h.descr() + " is not supported; expected float32 (<f4) or float16 (<f2)");
            }
            if (h.fortranOrder()) {
                throw new FileFormatException(path, "Fortran-order (column-major) arrays are not supported; save with np.ascontiguousarray");
            }
            long[] shape = h.shape();
            if (shape.length != 2 && shape.length != 3) {
                throw new FileFormatException(path, "expected a 2-D [rows, d_in] or 3-D [n, tokens, d_in] array, got shape " + h.shapeString());
            }
            long dIn = shape[shape.length - 1];
            if (dIn <= 0 || dIn > Integer.MAX_VALUE / 4) {
                throw new FileFormatException(path, "bad width " + dIn + " in shape " + h.shapeString());
            }
            long rows = shape.length == 2 ? shape[0] : Math.multiplyExact(shape[0], shape[1]);
            long need = h.dataOffset() + Math.multiplyExact(h.elements(), (long) elemBytes);
            if (ch.size() < need) {
                throw new FileFormatException(path, "truncated: shape " + h.shapeString() + " " + dtypeName(elemBytes) + " needs " + need
                        + " bytes, file has " + ch.size());
            }
            return new NpySource(path, h, (int) dIn, rows, elemBytes, ch);
        } catch (NoSuchFileException e) {
            throw new FileFormatException(path, "file not found");
        } catch (IOException e) {
            throw new FileFormatException(path, "cannot read (" + e.getMessage() + ")");
        }
    }

    private static String dtypeName(int elemBytes) {
        return elemBytes == 4 ? "float32" : "float16";
    }

    public NpyFile header() {
        return header;
    }

    @Override
    public Path path() {
        return path;
    }

    @Override
    public int dIn() {
        return dIn;
    }

    @Override
    public long numRows() {
        return rows;
    }

    @Override
    public String dtype() {
        return dtypeName(elemBytes);
    }

    @Override
    public void readRows(long first, int count, float[] dst, int dstOffset) {
        if (first < 0 || count < 0 || first + count > rows) {
            throw new IndexOutOfBoundsException("rows [" + first + ", " + (first + count) + ") outside [0, " + rows + ") of " + path);
        }
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
                    tmp = new short[Math.min(len, count * dIn)];
                }
                f16[seg].get(index, tmp, 0, len);
                for (int i = 0; i < len; i++) {
                    dst[off + i] = Half.toFloat(tmp[i]);
                }
            }
            done += n;
        }
    }

    @Override
    public void close() {
        // Mappings are released by the GC; the channel was closed after mapping.
    }
}
