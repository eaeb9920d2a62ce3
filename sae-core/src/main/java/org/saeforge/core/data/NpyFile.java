package org.saeforge.core.data;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.saeforge.core.FileFormatException;

/**
 * The header of a NumPy {@code .npy} file (format versions 1.0, 2.0 and 3.0): magic, version, header length and
 * the Python dict literal {@code {'descr': '<f4', 'fortran_order': False, 'shape': (257, 48), }}.
 *
 * @param descr        the dtype string, e.g. {@code <f4}
 * @param fortranOrder whether the data is column-major
 * @param shape        the array shape
 * @param dataOffset   byte offset of the first element
 */
public record NpyFile(Path path, String descr, boolean fortranOrder, long[] shape, long dataOffset) {
    private static final byte[] MAGIC = {(byte) 0x93, 'N', 'U', 'M', 'P', 'Y'};
    private static final Pattern DESCR = Pattern.compile("'descr'\\s*:\\s*'([^']*)'");
    private static final Pattern FORTRAN = Pattern.compile("'fortran_order'\\s*:\\s*(True|False)");
    private static final Pattern SHAPE = Pattern.compile("'shape'\\s*:\\s*\\(([^)]*)\\)");

    /** Reads and parses the header of {@code path}; any problem is a one-line {@link FileFormatException}. */
    public static NpyFile readHeader(Path path) {
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            return parse(path, ch);
        } catch (NoSuchFileException e) {
            throw new FileFormatException(path, "file not found");
        } catch (IOException e) {
            throw new FileFormatException(path, "cannot read (" + e.getMessage() + ")");
        }
    }

    static NpyFile parse(Path path, FileChannel ch) throws IOException {
        return parse(path, ch::read, 0, ch.size());
    }

    /** Positional reads of the bytes holding a header: a file channel, or inflated bytes of an .npz member. */
    @FunctionalInterface
    interface PositionalReader {
        /** Reads into dst from pos; returns the bytes read, or -1 at the end. */
        int read(ByteBuffer dst, long pos) throws IOException;
    }

    /**
     * Parses a .npy that occupies bytes [base, end) of the channel (a whole file, or a stored member of an .npz);
     * the returned {@link #dataOffset()} is absolute. Never allocates more than the region holds.
     */
    static NpyFile parse(Path path, PositionalReader ch, long base, long end) throws IOException {
        long size = end - base;
        ByteBuffer pre = ByteBuffer.allocate(12).order(ByteOrder.LITTLE_ENDIAN);
        pre.limit((int) Math.min(12, Math.max(0, size)));
        while (pre.hasRemaining() && ch.read(pre, base + pre.position()) > 0) {
            // fill
        }
        pre.flip();
        for (int i = 0; i < MAGIC.length; i++) {
            if (pre.limit() <= i || pre.get(i) != MAGIC[i]) {
                throw new FileFormatException(path, "not a .npy file (missing the \\x93NUMPY magic)");
            }
        }
        if (pre.limit() < 10) {
            throw new FileFormatException(path, "truncated .npy header");
        }
        int major = pre.get(6);
        long headerLen;
        int headerStart;
        if (major == 1) {
            headerLen = pre.getShort(8) & 0xffff;
            headerStart = 10;
        } else if (major == 2 || major == 3) {
            if (pre.limit() < 12) {
                throw new FileFormatException(path, "truncated .npy header");
            }
            headerLen = pre.getInt(8) & 0xffffffffL;
            headerStart = 12;
        } else {
            throw new FileFormatException(path, "unsupported .npy format version " + major + "." + pre.get(7));
        }
        if (headerStart + headerLen > size || headerLen > (1 << 24)) {
            throw new FileFormatException(path, "truncated .npy header (" + headerLen + " header bytes announced, file has " + size + ")");
        }
        ByteBuffer hb = ByteBuffer.allocate((int) headerLen);
        while (hb.hasRemaining() && ch.read(hb, base + headerStart + hb.position()) > 0) {
            // fill
        }
        String header = new String(hb.array(), major == 3 ? StandardCharsets.UTF_8 : StandardCharsets.ISO_8859_1);
        Matcher d = DESCR.matcher(header);
        Matcher f = FORTRAN.matcher(header);
        Matcher s = SHAPE.matcher(header);
        if (!d.find() || !f.find() || !s.find()) {
            String shown = header.trim();
            throw new FileFormatException(path, "malformed .npy header: "
                    + (shown.length() > 120 ? shown.substring(0, 120) + "..." : shown));
        }
        List<Long> dims = new ArrayList<>();
        for (String part : s.group(1).split(",")) {
            String t = part.trim();
            if (!t.isEmpty()) {
                long v;
                try {
                    v = Long.parseLong(t.endsWith("L") ? t.substring(0, t.length() - 1) : t);
                } catch (NumberFormatException e) {
                    throw new FileFormatException(path, "malformed .npy shape (" + s.group(1) + ")");
                }
                if (v < 0) {
                    throw new FileFormatException(path, "malformed .npy shape (" + s.group(1) + "): negative dimension");
                }
                dims.add(v);
            }
        }
        long[] shape = dims.stream().mapToLong(Long::longValue).toArray();
        NpyFile h = new NpyFile(path, d.group(1), "True".equals(f.group(1)), shape, base + headerStart + headerLen);
        try {
            h.elements();
        } catch (ArithmeticException e) {
            throw new FileFormatException(path, "malformed .npy shape " + h.shapeString() + ": too many elements");
        }
        return h;
    }

    /** Bytes per element of a float dtype this project reads, or -1. */
    public int floatBytes() {
        switch (descr) {
            case "<f4":
                return 4;
            case "<f2":
                return 2;
            default:
                return -1;
        }
    }

    public long elements() {
        long n = 1;
        for (long s : shape) {
            n = Math.multiplyExact(n, s);
        }
        return n;
    }

    public String shapeString() {
        StringBuilder b = new StringBuilder("(");
        for (int i = 0; i < shape.length; i++) {
            b.append(i == 0 ? "" : ", ").append(shape[i]);
        }
        return b.append(shape.length == 1 ? ",)" : ")").toString();
    }
}
