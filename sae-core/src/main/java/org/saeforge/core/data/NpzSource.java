package org.saeforge.core.data;

import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.zip.CRC32;
import java.util.zip.Inflater;
import java.util.zip.InflaterInputStream;
import java.util.zip.ZipException;
import org.saeforge.core.FileFormatException;

/**
 * One member of a NumPy {@code .npz} archive ({@code np.savez} stores members, {@code np.savez_compressed} deflates
 * them). A stored member is memory-mapped in place; a deflated one is inflated once into a temporary {@code .npy}
 * (deleted on close), since deflate streams allow no random access. The zip central directory (zip64 included) is
 * parsed here so that every offset is checked against the file size before use.
 */
public final class NpzSource implements ActivationSource {
    private static final int STORED = 0;
    private static final int DEFLATED = 8;
    private static final int MAX_NPY_HEADER = 1 << 24;

    private final String member;
    private final NpySource rows;
    private final Path tempFile;

    private NpzSource(String member, NpySource rows, Path tempFile) {
        this.member = member;
        this.rows = rows;
        this.tempFile = tempFile;
    }

    /** A member's entry in the central directory. */
    record Entry(String name, int method, long compressedSize, long size, long localHeaderOffset, long crc) {
    }

    /**
     * Opens member {@code dataset} (with or without the {@code .npy} suffix), or the only 2-D/3-D float member when
     * dataset is null.
     */
    public static NpzSource open(Path path, String dataset) {
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            Map<String, Entry> entries = readCentralDirectory(path, ch);
            Entry e;
            if (dataset != null) {
                e = entries.get(dataset.endsWith(".npy") ? dataset : dataset + ".npy");
                if (e == null) {
                    throw new FileFormatException(path, "no member named \"" + dataset + "\" (has " + memberNames(entries) + ")");
                }
            } else {
                List<Entry> candidates = new ArrayList<>();
                for (Entry x : entries.values()) {
                    NpyFile h = header(path, ch, x);
                    if (h != null && h.floatBytes() > 0 && (h.shape().length == 2 || h.shape().length == 3)) {
                        candidates.add(x);
                    }
                }
                if (candidates.size() != 1) {
                    throw new FileFormatException(path, (candidates.isEmpty() ? "has no 2-D or 3-D float32/float16 member"
                            : "has several float members " + memberNames(candidates)) + "; pick one with --dataset (members: "
                            + memberNames(entries) + ")");
                }
                e = candidates.get(0);
            }
            String memberName = e.name().substring(0, e.name().length() - 4);
            Path name = Names.member(path, memberName);
            long dataStart = dataStart(path, ch, e);
            if (e.method() == STORED) {
                if (e.size() != e.compressedSize()) {
                    throw new FileFormatException(path, "member " + e.name() + " is stored but its sizes differ");
                }
                return new NpzSource(memberName, NpySource.open(name, path, ch, dataStart, dataStart + e.size()), null);
            }
            Path tmp = inflateToTemp(path, ch, e, dataStart);
            try (FileChannel tc = FileChannel.open(tmp, StandardOpenOption.READ)) {
                return new NpzSource(memberName, NpySource.open(name, tmp, tc, 0, tc.size()), tmp);
            } catch (IOException | RuntimeException ex) {
                Files.deleteIfExists(tmp);
                throw ex;
            }
        } catch (NoSuchFileException e) {
            throw new FileFormatException(path, "file not found");
        } catch (IOException e) {
            throw new FileFormatException(path, "cannot read (" + e.getMessage() + ")");
        }
    }

    private static List<String> memberNames(Map<String, Entry> entries) {
        return memberNames(entries.values());
    }

    private static List<String> memberNames(Iterable<Entry> entries) {
        List<String> names = new ArrayList<>();
        for (Entry e : entries) {
            names.add(e.name().endsWith(".npy") ? e.name().substring(0, e.name().length() - 4) : e.name());
        }
        return names;
    }

    /** The .npy header of a member, or null when it is not a readable .npy. */
    private static NpyFile header(Path path, FileChannel ch, Entry e) throws IOException {
        Path name = Names.member(path, e.name());
        long start = dataStart(path, ch, e);
        if (e.method() == STORED) {
            try {
                return NpyFile.parse(name, ch::read, start, start + e.size());
            } catch (FileFormatException ex) {
                return null;
            }
        }
        try (InputStream in = inflating(ch, e, start)) {
            byte[] pre = in.readNBytes(12);
            if (pre.length < 10) {
                return null;
            }
            long headerLen = pre[6] == 1 ? (pre[8] & 0xff) | (pre[9] & 0xff) << 8
                    : pre.length < 12 ? -1 : ByteBuffer.wrap(pre).order(ByteOrder.LITTLE_ENDIAN).getInt(8) & 0xffffffffL;
            if (headerLen < 0 || headerLen > MAX_NPY_HEADER || headerLen > e.size()) {
                return null;
            }
            byte[] rest = in.readNBytes((int) headerLen);
            byte[] all = new byte[pre.length + rest.length];
            System.arraycopy(pre, 0, all, 0, pre.length);
            System.arraycopy(rest, 0, all, pre.length, rest.length);
            return NpyFile.parse(name, (dst, pos) -> {
                if (pos >= all.length) {
                    return -1;
                }
                int n = (int) Math.min(dst.remaining(), all.length - pos);
                dst.put(all, (int) pos, n);
                return n;
            }, 0, e.size());
        } catch (FileFormatException | ZipException | EOFException ex) {
            return null;
        }
    }

    private static InputStream inflating(FileChannel ch, Entry e, long start) {
        return new InflaterInputStream(new RegionInputStream(ch, start, e.compressedSize()), new Inflater(true), 1 << 16);
    }

    private static Path inflateToTemp(Path path, FileChannel ch, Entry e, long dataStart) throws IOException {
        Path tmp = Files.createTempFile("saeforge-npz-", ".npy");
        tmp.toFile().deleteOnExit();
        CRC32 crc = new CRC32();
        long written = 0;
        try (InputStream in = inflating(ch, e, dataStart); OutputStream out = Files.newOutputStream(tmp)) {
            byte[] buf = new byte[1 << 20];
            for (int n; (n = in.read(buf)) > 0; ) {
                written += n;
                if (written > e.size()) {
                    throw new FileFormatException(path, "member " + e.name() + " inflates to more than its declared " + e.size() + " bytes");
                }
                crc.update(buf, 0, n);
                out.write(buf, 0, n);
            }
        } catch (ZipException | EOFException ex) {
            Files.deleteIfExists(tmp);
            throw new FileFormatException(path, "member " + e.name() + " is corrupt or truncated (" + ex.getMessage() + ")");
        } catch (IOException | RuntimeException ex) {
            Files.deleteIfExists(tmp);
            throw ex;
        }
        if (written != e.size() || crc.getValue() != e.crc()) {
            Files.deleteIfExists(tmp);
            throw new FileFormatException(path, "member " + e.name() + " is corrupt or truncated (inflated " + written + " of "
                    + e.size() + " bytes" + (written == e.size() ? ", CRC mismatch" : "") + ")");
        }
        return tmp;
    }

    private static long dataStart(Path path, FileChannel ch, Entry e) throws IOException {
        ByteBuffer lh = readAt(path, ch, e.localHeaderOffset(), 30);
        if (lh.getInt(0) != 0x04034b50) {
            throw new FileFormatException(path, "corrupt zip: bad local header for member " + e.name());
        }
        long start = e.localHeaderOffset() + 30 + (lh.getShort(26) & 0xffff) + (lh.getShort(28) & 0xffff);
        if (start + e.compressedSize() > ch.size()) {
            throw new FileFormatException(path, "truncated: member " + e.name() + " needs bytes up to " + (start + e.compressedSize())
                    + ", file has " + ch.size());
        }
        return start;
    }

    /** Parses the end-of-central-directory record (zip64 too) and every central directory entry. */
    static Map<String, Entry> readCentralDirectory(Path path, FileChannel ch) throws IOException {
        long size = ch.size();
        int tailLen = (int) Math.min(size, 22 + 65535);
        if (tailLen < 22) {
            throw new FileFormatException(path, "not an .npz (zip) file: too short");
        }
        ByteBuffer tail = readAt(path, ch, size - tailLen, tailLen);
        int eocd = -1;
        for (int i = tailLen - 22; i >= 0; i--) {
            if (tail.getInt(i) == 0x06054b50) {
                eocd = i;
                break;
            }
        }
        if (eocd < 0) {
            throw new FileFormatException(path, "not an .npz (zip) file, or truncated: no end-of-central-directory record");
        }
        long entries = tail.getShort(eocd + 10) & 0xffff;
        long cdSize = tail.getInt(eocd + 12) & 0xffffffffL;
        long cdOffset = tail.getInt(eocd + 16) & 0xffffffffL;
        long eocdPos = size - tailLen + eocd;
        if ((entries == 0xffff || cdSize == 0xffffffffL || cdOffset == 0xffffffffL) && eocdPos >= 20) {
            ByteBuffer loc = readAt(path, ch, eocdPos - 20, 20);
            if (loc.getInt(0) == 0x07064b50) {
                long z64 = loc.getLong(8);
                if (z64 < 0 || z64 + 56 > size) {
                    throw new FileFormatException(path, "corrupt zip64 end-of-central-directory locator");
                }
                ByteBuffer rec = readAt(path, ch, z64, 56);
                if (rec.getInt(0) != 0x06064b50) {
                    throw new FileFormatException(path, "corrupt zip64 end-of-central-directory record");
                }
                entries = rec.getLong(32);
                cdSize = rec.getLong(40);
                cdOffset = rec.getLong(48);
            }
        }
        if (cdOffset < 0 || cdSize < 0 || cdOffset + cdSize > size || cdSize > Integer.MAX_VALUE || entries < 0 || entries > cdSize / 46) {
            throw new FileFormatException(path, "corrupt or truncated zip central directory");
        }
        ByteBuffer cd = readAt(path, ch, cdOffset, (int) cdSize);
        Map<String, Entry> out = new LinkedHashMap<>();
        int p = 0;
        for (long i = 0; i < entries; i++) {
            if (p + 46 > cd.limit() || cd.getInt(p) != 0x02014b50) {
                throw new FileFormatException(path, "corrupt zip central directory entry " + i);
            }
            int method = cd.getShort(p + 10) & 0xffff;
            long crc = cd.getInt(p + 16) & 0xffffffffL;
            long comp = cd.getInt(p + 20) & 0xffffffffL;
            long uncomp = cd.getInt(p + 24) & 0xffffffffL;
            int nameLen = cd.getShort(p + 28) & 0xffff;
            int extraLen = cd.getShort(p + 30) & 0xffff;
            int commentLen = cd.getShort(p + 32) & 0xffff;
            long lho = cd.getInt(p + 42) & 0xffffffffL;
            if (p + 46 + nameLen + extraLen + commentLen > cd.limit()) {
                throw new FileFormatException(path, "corrupt zip central directory entry " + i);
            }
            byte[] nameBytes = new byte[nameLen];
            cd.get(p + 46, nameBytes);
            String name = new String(nameBytes, StandardCharsets.UTF_8);
            int x = p + 46 + nameLen;
            int xEnd = x + extraLen;
            while (x + 4 <= xEnd) {
                int id = cd.getShort(x) & 0xffff;
                int len = cd.getShort(x + 2) & 0xffff;
                if (id == 0x0001) {
                    int q = x + 4;
                    if (uncomp == 0xffffffffL && q + 8 <= xEnd) {
                        uncomp = cd.getLong(q);
                        q += 8;
                    }
                    if (comp == 0xffffffffL && q + 8 <= xEnd) {
                        comp = cd.getLong(q);
                        q += 8;
                    }
                    if (lho == 0xffffffffL && q + 8 <= xEnd) {
                        lho = cd.getLong(q);
                    }
                }
                x += 4 + len;
            }
            if (method != STORED && method != DEFLATED) {
                throw new FileFormatException(path, "member " + name + " uses zip compression method " + method
                        + "; only stored and deflated members are supported");
            }
            if (lho < 0 || comp < 0 || uncomp < 0 || lho + 30 > size) {
                throw new FileFormatException(path, "corrupt zip entry for member " + name);
            }
            out.put(name, new Entry(name, method, comp, uncomp, lho, crc));
            p += 46 + nameLen + extraLen + commentLen;
        }
        return out;
    }

    private static ByteBuffer readAt(Path path, FileChannel ch, long pos, int len) throws IOException {
        if (pos < 0 || pos + len > ch.size()) {
            throw new FileFormatException(path, "truncated zip structure at byte " + pos);
        }
        ByteBuffer b = ByteBuffer.allocate(len).order(ByteOrder.LITTLE_ENDIAN);
        while (b.hasRemaining()) {
            if (ch.read(b, pos + b.position()) < 0) {
                throw new FileFormatException(path, "truncated zip structure at byte " + pos);
            }
        }
        return b.flip();
    }

    /** Positional reads of [start, start + length) of a channel as a stream (does not move the channel). */
    private static final class RegionInputStream extends InputStream {
        private final FileChannel ch;
        private long pos;
        private final long end;

        RegionInputStream(FileChannel ch, long start, long length) {
            this.ch = ch;
            this.pos = start;
            this.end = start + length;
        }

        @Override
        public int read() throws IOException {
            byte[] one = new byte[1];
            return read(one, 0, 1) < 0 ? -1 : one[0] & 0xff;
        }

        @Override
        public int read(byte[] b, int off, int len) throws IOException {
            if (pos >= end) {
                return -1;
            }
            int n = ch.read(ByteBuffer.wrap(b, off, (int) Math.min(len, end - pos)), pos);
            if (n > 0) {
                pos += n;
            }
            return n;
        }
    }

    /** The member's name without {@code .npy}. */
    public String member() {
        return member;
    }

    @Override
    public Path path() {
        return rows.path();
    }

    @Override
    public int dIn() {
        return rows.dIn();
    }

    @Override
    public long numRows() {
        return rows.numRows();
    }

    @Override
    public String dtype() {
        return rows.dtype();
    }

    @Override
    public void readRows(long first, int count, float[] dst, int dstOffset) {
        rows.readRows(first, count, dst, dstOffset);
    }

    @Override
    public void close() {
        if (tempFile != null) {
            try {
                Files.deleteIfExists(tempFile);
            } catch (IOException e) {
                // deleteOnExit was registered as well
            }
        }
    }
}
