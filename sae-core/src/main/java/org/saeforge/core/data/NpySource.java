package org.saeforge.core.data;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import org.saeforge.core.FileFormatException;

/**
 * A memory-mapped {@code .npy} activation file: 2-D {@code [rows, dIn]} or 3-D {@code [n, tokens, dIn]} (flattened to
 * rows), C order, little-endian float32 or float16. Also reads an .npy stored uncompressed inside an .npz, in place.
 */
public final class NpySource extends MappedSource {
    private final NpyFile header;

    private NpySource(Path path, NpyFile header, MappedRows rows) {
        super(path, (int) header.shape()[header.shape().length - 1], rows);
        this.header = header;
    }

    /** Opens and validates a .npy activation file. */
    public static NpySource open(Path path) {
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            return open(path, path, ch, 0, ch.size());
        } catch (NoSuchFileException e) {
            throw new FileFormatException(path, "file not found");
        } catch (IOException e) {
            throw new FileFormatException(path, "cannot read (" + e.getMessage() + ")");
        }
    }

    /**
     * Opens the .npy occupying bytes [base, end) of {@code ch}.
     *
     * @param name how to call it in messages (e.g. {@code acts.npz:acts})
     */
    static NpySource open(Path name, Path file, FileChannel ch, long base, long end) throws IOException {
        NpyFile h = NpyFile.parse(name, ch::read, base, end);
        MappedRows.DType dtype = h.floatBytes() == 4 ? MappedRows.DType.FLOAT32 : h.floatBytes() == 2 ? MappedRows.DType.FLOAT16 : null;
        if (dtype == null) {
            throw new FileFormatException(name, "dtype " + h.descr() + " is not supported; expected float32 (<f4) or float16 (<f2)");
        }
        if (h.fortranOrder()) {
            throw new FileFormatException(name, "Fortran-order (column-major) arrays are not supported; save with np.ascontiguousarray");
        }
        long[] shape = h.shape();
        if (shape.length != 2 && shape.length != 3) {
            throw new FileFormatException(name, "expected a 2-D [rows, d_in] or 3-D [n, tokens, d_in] array, got shape " + h.shapeString());
        }
        long dIn = shape[shape.length - 1];
        if (dIn <= 0 || dIn > Integer.MAX_VALUE / 4) {
            throw new FileFormatException(name, "bad width " + dIn + " in shape " + h.shapeString());
        }
        long numRows = shape.length == 2 ? shape[0] : shape[0] * shape[1];
        long dataBytes;
        try {
            dataBytes = Math.multiplyExact(h.elements(), (long) dtype.bytes);
        } catch (ArithmeticException e) {
            throw new FileFormatException(name, "shape " + h.shapeString() + " is too large");
        }
        long need = h.dataOffset() - base + dataBytes;
        if (end - base < need) {
            throw new FileFormatException(name, "truncated: shape " + h.shapeString() + " " + dtype.name + " needs " + need
                    + " bytes, file has " + (end - base));
        }
        return new NpySource(name, h, new MappedRows(file, ch, h.dataOffset(), numRows, (int) dIn, dtype));
    }

    public NpyFile header() {
        return header;
    }
}
