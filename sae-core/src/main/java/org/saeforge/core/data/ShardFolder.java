package org.saeforge.core.data;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.LongBuffer;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.function.LongConsumer;
import org.saeforge.core.FileFormatException;
import org.saeforge.core.SaeException;
import org.saeforge.core.io.AtomicFiles;
import org.saeforge.core.io.Json;
import org.saeforge.core.tensor.Half;

/**
 * Our own activation cache, the fastest format to train from: a folder with {@code shards.json} and shards
 * {@code shard-00000.bin}, {@code shard-00001.bin}... holding raw little-endian row-major rows (float32, float16 or
 * bfloat16) with no header, so reading is a memory copy from the page cache. Optional row metadata sits in
 * fixed-width column files beside them (all little-endian, one entry per row of the whole folder):
 * {@code modality.i8} (0 image, 1 text, -1 unknown), {@code source_id.i64}, {@code position.i64}, and labels as
 * {@code label.idx} (int64 byte offsets, rows + 1 of them) into {@code label.utf8}.
 *
 * <p>{@code shards.json}: {@code {"format": "saeforge-shards", "version": 1, "d_in": 768, "dtype": "float32",
 * "rows": N, "shards": [{"file": "shard-00000.bin", "rows": n0}, ...], "metadata": ["modality", ...]}}. Opening
 * checks every shard's size against its row count, so a missing or truncated shard fails at once.
 */
public final class ShardFolder implements ActivationSource {
    public static final String INDEX = "shards.json";
    public static final String FORMAT = "saeforge-shards";
    /** Largest shards.json accepted (a real one is kilobytes). */
    static final long MAX_INDEX_BYTES = 16L << 20;
    /** Default shard size in bytes. */
    public static final long DEFAULT_SHARD_BYTES = 1L << 30;

    private final Path dir;
    private final int dIn;
    private final long numRows;
    private final MappedRows.DType dtype;
    private final long[] starts;
    private final MappedRows[] shards;
    private final RowMetadata metadata;

    private ShardFolder(Path dir, int dIn, long numRows, MappedRows.DType dtype, long[] starts, MappedRows[] shards,
                        RowMetadata metadata) {
        this.dir = dir;
        this.dIn = dIn;
        this.numRows = numRows;
        this.dtype = dtype;
        this.starts = starts;
        this.shards = shards;
        this.metadata = metadata;
    }

    /** True when {@code dir} is a folder holding {@code shards.json}. */
    public static boolean isShardFolder(Path dir) {
        return Files.isDirectory(dir) && Files.isRegularFile(dir.resolve(INDEX));
    }

    /** Opens a shard folder, checking the index and the size of every shard and metadata column. */
    public static ShardFolder open(Path dir) {
        Path index = dir.resolve(INDEX);
        JsonNode root = readIndex(index);
        Index ix = parseIndex(index, root);
        MappedRows[] shards = new MappedRows[ix.files.length];
        long[] starts = new long[ix.files.length + 1];
        long rowBytes = (long) ix.dIn * ix.dtype.bytes;
        for (int i = 0; i < ix.files.length; i++) {
            Path f = dir.resolve(ix.files[i]);
            long need = ix.rows[i] * rowBytes;
            try (FileChannel ch = FileChannel.open(f, StandardOpenOption.READ)) {
                long size = ch.size();
                if (size != need) {
                    throw new FileFormatException(f, (size < need ? "truncated" : "longer than announced") + ": " + ix.rows[i] + " rows x "
                            + ix.dIn + " " + ix.dtype.name + " need " + need + " bytes, the shard has " + size);
                }
                shards[i] = new MappedRows(f, ch, 0, ix.rows[i], ix.dIn, ix.dtype);
            } catch (java.nio.file.NoSuchFileException e) {
                throw new FileFormatException(f, "shard listed in " + INDEX + " is missing");
            } catch (IOException e) {
                throw new FileFormatException(f, "cannot read (" + e.getMessage() + ")");
            }
            starts[i + 1] = starts[i] + ix.rows[i];
        }
        RowMetadata meta = ix.columns.length == 0 ? null : ShardMetadata.open(dir, ix.totalRows, ix.columns);
        return new ShardFolder(dir, ix.dIn, ix.totalRows, ix.dtype, starts, shards, meta);
    }

    private static JsonNode readIndex(Path index) {
        try {
            if (!Files.isRegularFile(index)) {
                throw new FileFormatException(index.getParent(), "not a shard folder (no " + INDEX + ")");
            }
            long size = Files.size(index);
            if (size > MAX_INDEX_BYTES) {
                throw new FileFormatException(index, "corrupt: " + size + " bytes is far larger than any shard index");
            }
            String text = new String(Files.readAllBytes(index), StandardCharsets.UTF_8);
            return parseJson(index, text);
        } catch (IOException e) {
            throw new FileFormatException(index, "cannot read (" + e.getMessage() + ")");
        }
    }

    static JsonNode parseJson(Path index, String text) {
        try {
            JsonNode n = Json.mapper().readTree(text);
            if (n == null || !n.isObject()) {
                throw new FileFormatException(index, "corrupt: not a JSON object");
            }
            return n;
        } catch (IOException e) {
            throw new FileFormatException(index, "corrupt: not valid JSON");
        }
    }

    /** The checked content of shards.json. */
    record Index(int dIn, MappedRows.DType dtype, long totalRows, String[] files, long[] rows, String[] columns) {
    }

    /** Validates a parsed shards.json; every problem is a {@link FileFormatException} naming the index. */
    static Index parseIndex(Path index, JsonNode root) {
        if (!FORMAT.equals(root.path("format").asText())) {
            throw new FileFormatException(index, "not a shard index (\"format\" must be \"" + FORMAT + "\")");
        }
        if (root.path("version").asInt(-1) != 1) {
            throw new FileFormatException(index, "unsupported shard index version " + root.path("version"));
        }
        JsonNode d = root.path("d_in");
        if (!d.canConvertToInt() || d.asInt() <= 0 || d.asInt() > Integer.MAX_VALUE / 4) {
            throw new FileFormatException(index, "bad \"d_in\" " + d);
        }
        MappedRows.DType dtype = MappedRows.DType.fromName(root.path("dtype").asText());
        if (dtype == null) {
            throw new FileFormatException(index, "bad \"dtype\" " + root.path("dtype") + " (expected float32, float16 or bfloat16)");
        }
        JsonNode shards = root.path("shards");
        if (!shards.isArray() || shards.isEmpty()) {
            throw new FileFormatException(index, "\"shards\" must be a non-empty list");
        }
        String[] files = new String[shards.size()];
        long[] rows = new long[shards.size()];
        long total = 0;
        long maxRowsPerShard = Long.MAX_VALUE / ((long) d.asInt() * dtype.bytes);
        for (int i = 0; i < files.length; i++) {
            JsonNode s = shards.get(i);
            JsonNode f = s.path("file");
            JsonNode r = s.path("rows");
            if (!f.isTextual() || !r.canConvertToLong() || r.asLong() < 0 || r.asLong() > maxRowsPerShard) {
                throw new FileFormatException(index, "shard entry " + i + " needs a \"file\" name and a non-negative \"rows\" count");
            }
            String name = f.asText();
            if (name.isEmpty() || name.contains("/") || name.contains("\\") || name.equals("..") || name.equals(".")) {
                throw new FileFormatException(index, "shard entry " + i + " has a bad file name \"" + name + "\"");
            }
            files[i] = name;
            rows[i] = r.asLong();
            if (total > Long.MAX_VALUE - rows[i]) {
                throw new FileFormatException(index, "corrupt: row counts overflow");
            }
            total += rows[i];
        }
        JsonNode declared = root.path("rows");
        if (!declared.canConvertToLong() || declared.asLong() != total) {
            throw new FileFormatException(index, "\"rows\" is " + declared + " but the shards hold " + total);
        }
        JsonNode meta = root.path("metadata");
        String[] columns = new String[0];
        if (!meta.isMissingNode() && !meta.isNull()) {
            if (!meta.isArray()) {
                throw new FileFormatException(index, "\"metadata\" must be a list of column names");
            }
            columns = new String[meta.size()];
            for (int i = 0; i < columns.length; i++) {
                columns[i] = meta.get(i).asText();
                if (!Arrays.asList(ShardMetadata.COLUMNS).contains(columns[i])) {
                    throw new FileFormatException(index, "unknown metadata column \"" + columns[i] + "\" (known: "
                            + String.join(", ", ShardMetadata.COLUMNS) + ")");
                }
            }
        }
        return new Index(d.asInt(), dtype, total, files, rows, columns);
    }

    @Override
    public Path path() {
        return dir;
    }

    @Override
    public int dIn() {
        return dIn;
    }

    @Override
    public long numRows() {
        return numRows;
    }

    @Override
    public String dtype() {
        return dtype.name;
    }

    /** Number of shard files. */
    public int numShards() {
        return shards.length;
    }

    @Override
    public RowMetadata metadata() {
        return metadata;
    }

    @Override
    public void readRows(long first, int count, float[] dst, int dstOffset) {
        if (first < 0 || count < 0 || first + count > numRows) {
            throw new IndexOutOfBoundsException("rows [" + first + ", " + (first + count) + ") outside [0, " + numRows + ") of " + dir);
        }
        int done = 0;
        int s = shardOf(first);
        while (done < count) {
            while (first + done >= starts[s + 1]) {
                s++;
            }
            long inShard = first + done - starts[s];
            int n = (int) Math.min(count - done, starts[s + 1] - (first + done));
            shards[s].readRows(inShard, n, dst, dstOffset + done * dIn);
            done += n;
        }
    }

    @Override
    public int rawElementBytes() {
        return dtype.bytes;
    }

    @Override
    public void readRawRows(long first, int count, ByteBuffer dst, int dstIndex) {
        if (first < 0 || count < 0 || first + count > numRows) {
            throw new IndexOutOfBoundsException("rows [" + first + ", " + (first + count) + ") outside [0, " + numRows + ") of " + dir);
        }
        long rowBytes = (long) dIn * dtype.bytes;
        int done = 0;
        int s = shardOf(first);
        while (done < count) {
            while (first + done >= starts[s + 1]) {
                s++;
            }
            long inShard = first + done - starts[s];
            int n = (int) Math.min(count - done, starts[s + 1] - (first + done));
            shards[s].readRawRows(inShard, n, dst, dstIndex + (int) (done * rowBytes));
            done += n;
        }
    }

    /** Checks each shard the rows touch once, then copies the rows. */
    @Override
    public void readRawRowsAt(long[] ids, int from, int to, ByteBuffer dst, int dstIndex) {
        int rowBytes = dIn * dtype.bytes;
        MappedRows.requireRoom(to - from, rowBytes, dst, dstIndex);
        int[] shardOfRow = new int[to - from];
        boolean[] checked = new boolean[shards.length];
        for (int i = from; i < to; i++) {
            if (ids[i] < 0 || ids[i] >= numRows) {
                throw new IndexOutOfBoundsException("row " + ids[i] + " outside [0, " + numRows + ") of " + dir);
            }
            int s = shardOf(ids[i]);
            shardOfRow[i - from] = s;
            if (!checked[s]) {
                shards[s].checkFile();
                checked[s] = true;
            }
        }
        int s = -1;
        try {
            for (int i = from; i < to; i++) {
                s = shardOfRow[i - from];
                shards[s].copyRawRow(ids[i] - starts[s], dst, dstIndex + (i - from) * rowBytes, rowBytes);
            }
        } catch (InternalError e) {
            throw shards[s].faulted(e);
        }
    }

    private int shardOf(long row) {
        int i = Arrays.binarySearch(starts, row);
        int s = i >= 0 ? i : -i - 2;
        return Math.min(Math.max(s, 0), shards.length - 1);
    }

    @Override
    public void close() {
        // mappings are released by the GC
    }

    /**
     * Writes {@code source} as a shard folder at {@code outDir} (atomically: a temporary sibling folder renamed into
     * place), with its row metadata when it has any.
     *
     * @param dtype      float32 or float16 (float16 conversion fails on values beyond its range)
     * @param shardBytes target shard size (whole rows)
     * @param progress   receives the number of rows written so far
     */
    public static void write(ActivationSource source, Path outDir, String dtype, long shardBytes, LongConsumer progress) {
        MappedRows.DType t = MappedRows.DType.fromName(dtype);
        if (t != MappedRows.DType.FLOAT32 && t != MappedRows.DType.FLOAT16) {
            throw new SaeException("--dtype must be float32 or float16, got '" + dtype + "'");
        }
        int d = source.dIn();
        long rowBytes = (long) d * t.bytes;
        long rowsPerShard = Math.max(1, shardBytes / rowBytes);
        long total = source.numRows();
        RowMetadata meta = source.metadata();
        AtomicFiles.writeDirectory(outDir, tmp -> {
            ObjectNode index = Json.object();
            index.put("format", FORMAT);
            index.put("version", 1);
            index.put("d_in", d);
            index.put("dtype", t.name);
            index.put("rows", total);
            ArrayNode list = index.putArray("shards");
            int chunkRows = (int) Math.max(1, Math.min(4096, (8L << 20) / rowBytes));
            float[] buf = new float[chunkRows * d];
            ByteBuffer out = ByteBuffer.allocateDirect((int) (chunkRows * rowBytes)).order(ByteOrder.LITTLE_ENDIAN);
            try (ShardMetadata.Writer metaOut = meta == null ? null : ShardMetadata.writer(tmp, meta)) {
                long row = 0;
                int shard = 0;
                do {
                    String name = String.format("shard-%05d.bin", shard++);
                    long n = Math.min(rowsPerShard, total - row);
                    try (FileChannel ch = FileChannel.open(tmp.resolve(name), StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
                        for (long done = 0; done < n; ) {
                            int c = (int) Math.min(chunkRows, n - done);
                            source.readRows(row + done, c, buf, 0);
                            out.clear();
                            encode(buf, c * d, t, out, source.path(), row + done, d);
                            out.flip();
                            while (out.hasRemaining()) {
                                ch.write(out);
                            }
                            if (metaOut != null) {
                                metaOut.append(row + done, c);
                            }
                            done += c;
                            progress.accept(row + done);
                        }
                    }
                    list.addObject().put("file", name).put("rows", n);
                    row += n;
                } while (row < total);
                if (metaOut != null) {
                    ArrayNode cols = index.putArray("metadata");
                    for (String c : metaOut.columns()) {
                        cols.add(c);
                    }
                }
            }
            Files.writeString(tmp.resolve(INDEX), Json.pretty(index) + "\n", StandardCharsets.UTF_8);
        });
    }

    private static void encode(float[] buf, int n, MappedRows.DType t, ByteBuffer out, Path src, long firstRow, int d) {
        if (t == MappedRows.DType.FLOAT32) {
            out.asFloatBuffer().put(buf, 0, n);
            out.position(n * 4);
            return;
        }
        for (int i = 0; i < n; i++) {
            float v = buf[i];
            short h = Half.fromFloat(v);
            if (Float.isFinite(v) && !Float.isFinite(Half.toFloat(h))) {
                throw new SaeException(src + ": row " + (firstRow + i / d) + " holds " + v + ", beyond the float16 range (65504); use --dtype float32");
            }
            out.putShort(h);
        }
    }

    /** Fixed-width metadata column files of a shard folder. */
    static final class ShardMetadata implements RowMetadata {
        static final String[] COLUMNS = {"modality", "source_id", "position", "label"};

        private final ByteBuffer modality;
        private final LongBuffer sourceId;
        private final LongBuffer position;
        private final LongBuffer labelIdx;
        private final ByteBuffer labelBytes;

        private ShardMetadata(ByteBuffer modality, LongBuffer sourceId, LongBuffer position, LongBuffer labelIdx, ByteBuffer labelBytes) {
            this.modality = modality;
            this.sourceId = sourceId;
            this.position = position;
            this.labelIdx = labelIdx;
            this.labelBytes = labelBytes;
        }

        static ShardMetadata open(Path dir, long rows, String[] columns) {
            if (rows > Integer.MAX_VALUE / 8 - 1) {
                throw new FileFormatException(dir, "row metadata for " + rows + " rows is not supported");
            }
            ByteBuffer m = null;
            LongBuffer s = null;
            LongBuffer p = null;
            LongBuffer li = null;
            ByteBuffer lb = null;
            for (String c : columns) {
                switch (c) {
                    case "modality":
                        m = map(dir.resolve("modality.i8"), rows, -1);
                        break;
                    case "source_id":
                        s = map(dir.resolve("source_id.i64"), rows * 8, -1).asLongBuffer();
                        break;
                    case "position":
                        p = map(dir.resolve("position.i64"), rows * 8, -1).asLongBuffer();
                        break;
                    case "label":
                        li = map(dir.resolve("label.idx"), (rows + 1) * 8, -1).asLongBuffer();
                        long bytes = li.get((int) rows);
                        lb = map(dir.resolve("label.utf8"), bytes, Integer.MAX_VALUE);
                        for (int i = 0; i <= rows; i += Math.max(1, (int) (rows / 64))) {
                            long o = li.get(i);
                            if (o < 0 || o > bytes || (i > 0 && o < li.get(i - 1))) {
                                throw new FileFormatException(dir.resolve("label.idx"), "corrupt: offset " + o + " at row " + i);
                            }
                        }
                        break;
                    default:
                        throw new IllegalStateException(c);
                }
            }
            return new ShardMetadata(m, s, p, li, lb);
        }

        private static ByteBuffer map(Path f, long bytes, long max) {
            try (FileChannel ch = FileChannel.open(f, StandardOpenOption.READ)) {
                if (ch.size() != bytes || (max > 0 && bytes > max)) {
                    throw new FileFormatException(f, "has " + ch.size() + " bytes, expected " + bytes);
                }
                MappedByteBuffer b = ch.map(FileChannel.MapMode.READ_ONLY, 0, bytes);
                b.order(ByteOrder.LITTLE_ENDIAN);
                return b;
            } catch (java.nio.file.NoSuchFileException e) {
                throw new FileFormatException(f, "metadata column listed in " + INDEX + " is missing");
            } catch (IOException e) {
                throw new FileFormatException(f, "cannot read (" + e.getMessage() + ")");
            }
        }

        @Override
        public boolean hasModality() {
            return modality != null;
        }

        @Override
        public boolean hasSourceId() {
            return sourceId != null;
        }

        @Override
        public boolean hasPosition() {
            return position != null;
        }

        @Override
        public boolean hasLabel() {
            return labelIdx != null;
        }

        @Override
        public Modality modality(long row) {
            return modality == null ? Modality.UNKNOWN : Modality.fromCode(modality.get((int) row));
        }

        @Override
        public long sourceId(long row) {
            return sourceId == null ? -1 : sourceId.get((int) row);
        }

        @Override
        public long position(long row) {
            return position == null ? -1 : position.get((int) row);
        }

        @Override
        public String label(long row) {
            if (labelIdx == null) {
                return null;
            }
            long a = labelIdx.get((int) row);
            long b = labelIdx.get((int) row + 1);
            if (a < 0 || b < a || b > labelBytes.capacity()) {
                throw new SaeException("corrupt label.idx: row " + row + " points at bytes [" + a + ", " + b + ")");
            }
            if (a == b) {
                return null;
            }
            byte[] bytes = new byte[(int) (b - a)];
            labelBytes.get((int) a, bytes);
            return new String(bytes, StandardCharsets.UTF_8);
        }

        static Writer writer(Path dir, RowMetadata meta) throws IOException {
            return new Writer(dir, meta);
        }

        /** Streams the metadata of consecutive rows into the column files. */
        static final class Writer implements AutoCloseable {
            private final RowMetadata meta;
            private final FileChannel modalityOut;
            private final FileChannel sourceOut;
            private final FileChannel positionOut;
            private final FileChannel idxOut;
            private final FileChannel labelOut;
            private final ByteBuffer buf = ByteBuffer.allocate(1 << 16).order(ByteOrder.LITTLE_ENDIAN);
            private long labelOffset;

            Writer(Path dir, RowMetadata meta) throws IOException {
                this.meta = meta;
                modalityOut = meta.hasModality() ? create(dir.resolve("modality.i8")) : null;
                sourceOut = meta.hasSourceId() ? create(dir.resolve("source_id.i64")) : null;
                positionOut = meta.hasPosition() ? create(dir.resolve("position.i64")) : null;
                idxOut = meta.hasLabel() ? create(dir.resolve("label.idx")) : null;
                labelOut = meta.hasLabel() ? create(dir.resolve("label.utf8")) : null;
                if (idxOut != null) {
                    buf.clear();
                    buf.putLong(0);
                    flush(idxOut);
                }
            }

            private static FileChannel create(Path f) throws IOException {
                return FileChannel.open(f, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE);
            }

            java.util.List<String> columns() {
                java.util.List<String> c = new java.util.ArrayList<>();
                if (modalityOut != null) {
                    c.add("modality");
                }
                if (sourceOut != null) {
                    c.add("source_id");
                }
                if (positionOut != null) {
                    c.add("position");
                }
                if (idxOut != null) {
                    c.add("label");
                }
                return c;
            }

            void append(long first, int count) throws IOException {
                buf.clear();
                for (long r = first; r < first + count; r++) {
                    if (modalityOut != null) {
                        ensure(modalityOut, 1);
                        Modality m = meta.modality(r);
                        buf.put((byte) (m == Modality.IMAGE ? 0 : m == Modality.TEXT ? 1 : -1));
                    }
                }
                flush(modalityOut);
                writeLongs(sourceOut, first, count, meta::sourceId);
                writeLongs(positionOut, first, count, meta::position);
                if (idxOut != null) {
                    buf.clear();
                    for (long r = first; r < first + count; r++) {
                        String l = meta.label(r);
                        byte[] b = l == null ? new byte[0] : l.getBytes(StandardCharsets.UTF_8);
                        ByteBuffer lb = ByteBuffer.wrap(b);
                        while (lb.hasRemaining()) {
                            labelOut.write(lb);
                        }
                        labelOffset += b.length;
                        ensure(idxOut, 8);
                        buf.putLong(labelOffset);
                    }
                    flush(idxOut);
                }
            }

            private void writeLongs(FileChannel ch, long first, int count, java.util.function.LongUnaryOperator get) throws IOException {
                if (ch == null) {
                    return;
                }
                buf.clear();
                for (long r = first; r < first + count; r++) {
                    ensure(ch, 8);
                    buf.putLong(get.applyAsLong(r));
                }
                flush(ch);
            }

            private void ensure(FileChannel ch, int bytes) throws IOException {
                if (buf.remaining() < bytes) {
                    flush(ch);
                }
            }

            private void flush(FileChannel ch) throws IOException {
                if (ch == null) {
                    buf.clear();
                    return;
                }
                buf.flip();
                while (buf.hasRemaining()) {
                    ch.write(buf);
                }
                buf.clear();
            }

            @Override
            public void close() throws IOException {
                for (FileChannel ch : new FileChannel[] {modalityOut, sourceOut, positionOut, idxOut, labelOut}) {
                    if (ch != null) {
                        ch.close();
                    }
                }
            }
        }
    }
}
