package org.saeforge.core.data;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import org.saeforge.core.io.AtomicFiles;
import org.saeforge.core.tensor.FloatMatrix;

/** Writes float32 {@code .npy} files (format 1.0, C order), atomically, as {@code numpy.save} would. */
public final class NpyWriter {
    private NpyWriter() {
    }

    /** The 1.0 header for a little-endian float32 array of the given shape, padded to a multiple of 64 bytes. */
    static byte[] header(String descr, long... shape) {
        StringBuilder s = new StringBuilder("(");
        for (int i = 0; i < shape.length; i++) {
            s.append(i == 0 ? "" : ", ").append(shape[i]);
        }
        s.append(shape.length == 1 ? ",)" : ")");
        String dict = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + s + ", }";
        int total = 10 + dict.length() + 1;
        int pad = (64 - total % 64) % 64;
        String text = dict + " ".repeat(pad) + "\n";
        ByteBuffer b = ByteBuffer.allocate(10 + text.length()).order(ByteOrder.LITTLE_ENDIAN);
        b.put((byte) 0x93).put("NUMPY".getBytes(StandardCharsets.US_ASCII)).put((byte) 1).put((byte) 0);
        b.putShort((short) text.length());
        b.put(text.getBytes(StandardCharsets.US_ASCII));
        return b.array();
    }

    public static void write(Path target, FloatMatrix m) {
        write(target, m.data(), m.rows(), m.cols());
    }

    /** Writes the first rows*cols floats of data as a [rows, cols] float32 array. */
    public static void write(Path target, float[] data, long rows, int cols) {
        write(target, data, "<f4", new long[] {rows, cols});
    }

    /** Writes a float64 array (used for exact expected-value files). */
    public static void writeDouble(Path target, double[] data, long... shape) {
        byte[] head = header("<f8", shape);
        AtomicFiles.write(target, tmp -> {
            try (FileChannel out = FileChannel.open(tmp, StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING,
                    StandardOpenOption.WRITE)) {
                writeAll(out, ByteBuffer.wrap(head));
                ByteBuffer buf = ByteBuffer.allocate(1 << 20).order(ByteOrder.LITTLE_ENDIAN);
                for (int i = 0; i < data.length; ) {
                    buf.clear();
                    int n = Math.min(data.length - i, buf.capacity() / 8);
                    buf.asDoubleBuffer().put(data, i, n);
                    buf.limit(n * 8);
                    writeAll(out, buf);
                    i += n;
                }
            }
        });
    }

    private static void write(Path target, float[] data, String descr, long[] shape) {
        long count = 1;
        for (long s : shape) {
            count *= s;
        }
        if (count > data.length) {
            throw new IllegalArgumentException("shape needs " + count + " floats, array has " + data.length);
        }
        byte[] head = header(descr, shape);
        long total = count;
        AtomicFiles.write(target, tmp -> {
            try (FileChannel out = FileChannel.open(tmp, StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING,
                    StandardOpenOption.WRITE)) {
                writeAll(out, ByteBuffer.wrap(head));
                ByteBuffer buf = ByteBuffer.allocate(1 << 20).order(ByteOrder.LITTLE_ENDIAN);
                for (int i = 0; i < total; ) {
                    buf.clear();
                    int n = (int) Math.min(total - i, buf.capacity() / 4);
                    buf.asFloatBuffer().put(data, i, n);
                    buf.limit(n * 4);
                    writeAll(out, buf);
                    i += n;
                }
            }
        });
    }

    /**
     * A float32 .npy written row block by row block into a temporary sibling and renamed into place by
     * {@link Stream#commit()}; closing without commit deletes the temporary file.
     */
    public static final class Stream implements AutoCloseable {
        private final Path target;
        private final Path tmp;
        private final FileChannel out;
        private final long rows;
        private final int cols;
        private final ByteBuffer buf = ByteBuffer.allocate(1 << 20).order(ByteOrder.LITTLE_ENDIAN);
        private long written;
        private boolean committed;

        private Stream(Path target, long rows, int cols) throws IOException {
            this.target = target.toAbsolutePath();
            this.tmp = this.target.resolveSibling(this.target.getFileName() + ".tmp-" + ProcessHandle.current().pid());
            java.nio.file.Files.createDirectories(this.target.getParent());
            this.out = FileChannel.open(tmp, StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING, StandardOpenOption.WRITE);
            this.rows = rows;
            this.cols = cols;
            writeAll(out, ByteBuffer.wrap(header("<f4", rows, cols)));
        }

        /** Appends {@code n} rows from data[off..]. */
        public void append(float[] data, int off, int n) {
            if (written + n > rows) {
                throw new IllegalStateException("more rows than announced (" + rows + ")");
            }
            try {
                int total = n * cols;
                for (int i = 0; i < total; ) {
                    buf.clear();
                    int c = Math.min(total - i, buf.capacity() / 4);
                    buf.asFloatBuffer().put(data, off + i, c);
                    buf.limit(c * 4);
                    writeAll(out, buf);
                    i += c;
                }
            } catch (IOException e) {
                throw org.saeforge.core.SaeException.internal(target + ": cannot write (" + e.getMessage() + ")", e);
            }
            written += n;
        }

        /** Checks every announced row was written, forces the data to disk and renames the file into place. */
        public void commit() {
            if (written != rows) {
                throw new IllegalStateException(target + ": wrote " + written + " of " + rows + " rows");
            }
            try {
                out.force(true);
                out.close();
                java.nio.file.Files.move(tmp, target, java.nio.file.StandardCopyOption.ATOMIC_MOVE,
                        java.nio.file.StandardCopyOption.REPLACE_EXISTING);
                committed = true;
            } catch (IOException e) {
                throw org.saeforge.core.SaeException.internal(target + ": cannot write (" + e.getMessage() + ")", e);
            }
        }

        @Override
        public void close() {
            if (!committed) {
                try {
                    out.close();
                    java.nio.file.Files.deleteIfExists(tmp);
                } catch (IOException e) {
                    // best effort cleanup of the temporary file
                }
            }
        }
    }

    /** Starts a streamed float32 [rows, cols] .npy at target. */
    public static Stream stream(Path target, long rows, int cols) {
        try {
            return new Stream(target, rows, cols);
        } catch (IOException e) {
            throw org.saeforge.core.SaeException.internal(target + ": cannot write (" + e.getMessage() + ")", e);
        }
    }

    private static void writeAll(FileChannel out, ByteBuffer b) throws IOException {
        while (b.hasRemaining()) {
            out.write(b);
        }
    }
}
