package org.saeforge.core.io;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.saeforge.core.FileFormatException;
import org.saeforge.core.tensor.Half;

/**
 * The safetensors format: an 8-byte little-endian header length, a JSON header
 * {@code {"name": {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}}}, then raw little-endian
 * tensor data. Reading validates every offset against the file size before touching data; writing produces the
 * same bytes as the Python {@code safetensors} library for float32 tensors (names sorted, header padded with
 * spaces to a multiple of 8).
 */
public final class Safetensors {
    /** Headers larger than this are refused as corrupt (real ones are kilobytes). */
    static final long MAX_HEADER = 100L << 20;

    /** One tensor's entry in the header. */
    public record TensorInfo(String name, String dtype, long[] shape, long dataBegin, long dataEnd) {
        public long elements() {
            long n = 1;
            for (long s : shape) {
                n *= s;
            }
            return n;
        }

        public int bytesPerElement() {
            return bytesPer(dtype);
        }
    }

    /** A tensor to write: float32 data with its shape. */
    public record Tensor(long[] shape, float[] data) {
        public static Tensor of(float[] data, long... shape) {
            return new Tensor(shape, data);
        }
    }

    /** An opened file: header parsed and checked; data read on demand. */
    public static final class Reader implements AutoCloseable {
        private final Path file;
        private final FileChannel channel;
        private final long dataStart;
        private final Map<String, TensorInfo> tensors;
        private final Map<String, String> metadata;

        private Reader(Path file, FileChannel channel, long dataStart, Map<String, TensorInfo> tensors,
                       Map<String, String> metadata) {
            this.file = file;
            this.channel = channel;
            this.dataStart = dataStart;
            this.tensors = tensors;
            this.metadata = metadata;
        }

        public Path file() {
            return file;
        }

        public Map<String, TensorInfo> tensors() {
            return tensors;
        }

        public Map<String, String> metadata() {
            return metadata;
        }

        public TensorInfo require(String name) {
            TensorInfo t = tensors.get(name);
            if (t == null) {
                throw new FileFormatException(file, "no tensor named \"" + name + "\" (has " + tensors.keySet() + ")");
            }
            return t;
        }

        /** Absolute file offset of a tensor's first byte. */
        public long absoluteOffset(TensorInfo t) {
            return dataStart + t.dataBegin();
        }

        /** The whole tensor widened to float32 (F32, F16, BF16), with its shape checked against {@code expectShape}. */
        public float[] readFloats(String name, long... expectShape) {
            TensorInfo t = require(name);
            if (expectShape.length > 0 && !java.util.Arrays.equals(t.shape(), expectShape)) {
                throw new FileFormatException(file, "tensor \"" + name + "\" has shape " + java.util.Arrays.toString(t.shape())
                        + ", expected " + java.util.Arrays.toString(expectShape));
            }
            if (t.elements() > Integer.MAX_VALUE - 8) {
                throw new FileFormatException(file, "tensor \"" + name + "\" is too large to load whole");
            }
            float[] out = new float[(int) t.elements()];
            readElements(t, 0, out, 0, out.length);
            return out;
        }

        /** Reads elements [first, first+count) of a tensor, widened to float32, into dst[off..]. */
        public void readElements(TensorInfo t, long first, float[] dst, int off, int count) {
            int bpe = t.bytesPerElement();
            if (!"F32".equals(t.dtype()) && !"F16".equals(t.dtype()) && !"BF16".equals(t.dtype())) {
                throw new FileFormatException(file, "tensor \"" + t.name() + "\" has dtype " + t.dtype() + "; expected F32, F16 or BF16");
            }
            ByteBuffer buf = ByteBuffer.allocate(Math.min(count, 1 << 20) * bpe).order(ByteOrder.LITTLE_ENDIAN);
            long pos = absoluteOffset(t) + first * bpe;
            int done = 0;
            try {
                while (done < count) {
                    int n = Math.min(count - done, buf.capacity() / bpe);
                    buf.clear().limit(n * bpe);
                    while (buf.hasRemaining()) {
                        int read = channel.read(buf, pos + (long) done * bpe + buf.position());
                        if (read < 0) {
                            throw new FileFormatException(file, "truncated: tensor \"" + t.name() + "\" data ends early");
                        }
                    }
                    buf.flip();
                    decode(t.dtype(), buf, dst, off + done, n);
                    done += n;
                }
            } catch (IOException e) {
                throw new FileFormatException(file, "cannot read (" + e.getMessage() + ")", e);
            }
        }

        @Override
        public void close() {
            try {
                channel.close();
            } catch (IOException e) {
                // read-only channel: nothing to lose
            }
        }
    }

    private Safetensors() {
    }

    static int bytesPer(String dtype) {
        switch (dtype) {
            case "F64":
            case "I64":
            case "U64":
                return 8;
            case "F32":
            case "I32":
            case "U32":
                return 4;
            case "F16":
            case "BF16":
            case "I16":
            case "U16":
                return 2;
            case "I8":
            case "U8":
            case "BOOL":
            case "F8_E4M3":
            case "F8_E5M2":
                return 1;
            default:
                return -1;
        }
    }

    static void decode(String dtype, ByteBuffer buf, float[] dst, int off, int n) {
        switch (dtype) {
            case "F32":
                buf.asFloatBuffer().get(dst, off, n);
                break;
            case "F16":
                for (int i = 0; i < n; i++) {
                    dst[off + i] = Half.toFloat(buf.getShort(2 * i));
                }
                break;
            case "BF16":
                for (int i = 0; i < n; i++) {
                    dst[off + i] = Half.bf16ToFloat(buf.getShort(2 * i));
                }
                break;
            default:
                throw new IllegalArgumentException("not a float dtype: " + dtype);
        }
    }

    /** Opens a file and checks its header: length, JSON, dtypes, shapes and offsets within the file. */
    public static Reader open(Path file) {
        FileChannel ch;
        try {
            ch = FileChannel.open(file, StandardOpenOption.READ);
        } catch (NoSuchFileException e) {
            throw new FileFormatException(file, "file not found");
        } catch (IOException e) {
            throw new FileFormatException(file, "cannot open (" + e.getMessage() + ")");
        }
        try {
            long size = ch.size();
            if (size < 8) {
                throw new FileFormatException(file, "not a safetensors file: " + size + " bytes, too short for a header");
            }
            ByteBuffer lenBuf = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
            readFully(ch, lenBuf, 0, file);
            long headerLen = lenBuf.getLong(0);
            if (headerLen < 2 || headerLen > MAX_HEADER || headerLen > size - 8) {
                throw new FileFormatException(file, "corrupt safetensors header length " + Long.toUnsignedString(headerLen)
                        + " (file has " + size + " bytes)");
            }
            ByteBuffer hb = ByteBuffer.allocate((int) headerLen);
            readFully(ch, hb, 8, file);
            String headerText = new String(hb.array(), StandardCharsets.UTF_8);
            JsonNode header;
            try {
                header = Json.mapper().readTree(headerText);
            } catch (IOException e) {
                throw new FileFormatException(file, "corrupt safetensors header: not valid JSON");
            }
            if (header == null || !header.isObject()) {
                throw new FileFormatException(file, "corrupt safetensors header: not a JSON object");
            }
            long dataStart = 8 + headerLen;
            long dataSize = size - dataStart;
            Map<String, TensorInfo> tensors = new LinkedHashMap<>();
            Map<String, String> metadata = new TreeMap<>();
            for (Iterator<Map.Entry<String, JsonNode>> it = header.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                if ("__metadata__".equals(e.getKey())) {
                    e.getValue().fields().forEachRemaining(m -> metadata.put(m.getKey(), m.getValue().asText()));
                    continue;
                }
                tensors.put(e.getKey(), parseTensor(file, e.getKey(), e.getValue(), dataSize));
            }
            return new Reader(file, ch, dataStart, Collections.unmodifiableMap(tensors), Collections.unmodifiableMap(metadata));
        } catch (IOException e) {
            closeQuietly(ch);
            throw new FileFormatException(file, "cannot read (" + e.getMessage() + ")", e);
        } catch (RuntimeException e) {
            closeQuietly(ch);
            throw e;
        }
    }

    private static TensorInfo parseTensor(Path file, String name, JsonNode node, long dataSize) {
        JsonNode dtypeNode = node.get("dtype");
        JsonNode shapeNode = node.get("shape");
        JsonNode offs = node.get("data_offsets");
        if (dtypeNode == null || shapeNode == null || offs == null || !shapeNode.isArray() || !offs.isArray() || offs.size() != 2) {
            throw new FileFormatException(file, "corrupt safetensors header: tensor \"" + name + "\" lacks dtype, shape or data_offsets");
        }
        String dtype = dtypeNode.asText();
        int bpe = bytesPer(dtype);
        if (bpe < 0) {
            throw new FileFormatException(file, "tensor \"" + name + "\" has unknown dtype " + dtype);
        }
        long[] shape = new long[shapeNode.size()];
        long elements = 1;
        for (int i = 0; i < shape.length; i++) {
            if (!shapeNode.get(i).canConvertToLong()) {
                throw new FileFormatException(file, "corrupt safetensors header: tensor \"" + name + "\" has a non-integer dimension");
            }
            shape[i] = shapeNode.get(i).asLong();
            if (shape[i] < 0) {
                throw new FileFormatException(file, "tensor \"" + name + "\" has a negative dimension");
            }
            if (shape[i] > 0 && elements > Long.MAX_VALUE / 8 / shape[i]) {
                throw new FileFormatException(file, "corrupt safetensors header: tensor \"" + name + "\" has an impossibly large shape");
            }
            elements *= shape[i];
        }
        if (!offs.get(0).canConvertToLong() || !offs.get(1).canConvertToLong()) {
            throw new FileFormatException(file, "corrupt safetensors header: tensor \"" + name + "\" has non-integer data_offsets");
        }
        long begin = offs.get(0).asLong();
        long end = offs.get(1).asLong();
        if (begin < 0 || end < begin || end - begin != elements * bpe) {
            throw new FileFormatException(file, "corrupt safetensors header: tensor \"" + name + "\" offsets [" + begin + ", " + end
                    + "] do not match its shape and dtype");
        }
        if (end > dataSize) {
            throw new FileFormatException(file, "truncated: tensor \"" + name + "\" needs bytes up to " + end + " of the data section but the file has "
                    + dataSize);
        }
        return new TensorInfo(name, dtype, shape, begin, end);
    }

    private static void readFully(FileChannel ch, ByteBuffer buf, long pos, Path file) throws IOException {
        while (buf.hasRemaining()) {
            int n = ch.read(buf, pos + buf.position());
            if (n < 0) {
                throw new FileFormatException(file, "truncated file");
            }
        }
    }

    private static void closeQuietly(FileChannel ch) {
        try {
            ch.close();
        } catch (IOException e) {
            // nothing to recover
        }
    }

    /**
     * Writes float32 tensors (atomically). Tensors are laid out in name order, as the Python library does for
     * tensors of one dtype; metadata (may be empty) goes under {@code __metadata__}.
     */
    public static void write(Path target, Map<String, Tensor> tensors, Map<String, String> metadata) {
        List<String> names = new ArrayList<>(new TreeMap<>(tensors).keySet());
        StringBuilder h = new StringBuilder("{");
        if (metadata != null && !metadata.isEmpty()) {
            h.append("\"__metadata__\":").append(Json.compact(new TreeMap<>(metadata)));
        }
        long offset = 0;
        for (String name : names) {
            Tensor t = tensors.get(name);
            long elements = 1;
            for (long s : t.shape()) {
                elements *= s;
            }
            if (elements != t.data().length) {
                throw new IllegalArgumentException("tensor " + name + ": shape " + java.util.Arrays.toString(t.shape()) + " does not match "
                        + t.data().length + " values");
            }
            if (h.length() > 1) {
                h.append(',');
            }
            h.append(Json.compact(name)).append(":{\"dtype\":\"F32\",\"shape\":[");
            for (int i = 0; i < t.shape().length; i++) {
                h.append(i == 0 ? "" : ",").append(t.shape()[i]);
            }
            h.append("],\"data_offsets\":[").append(offset).append(',').append(offset + elements * 4).append("]}");
            offset += elements * 4;
        }
        h.append('}');
        byte[] header = h.toString().getBytes(StandardCharsets.UTF_8);
        int pad = (8 - header.length % 8) % 8;
        AtomicFiles.write(target, tmp -> {
            try (FileChannel out = FileChannel.open(tmp, StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING,
                    StandardOpenOption.WRITE)) {
                ByteBuffer head = ByteBuffer.allocate(8 + header.length + pad).order(ByteOrder.LITTLE_ENDIAN);
                head.putLong(header.length + pad).put(header);
                for (int i = 0; i < pad; i++) {
                    head.put((byte) ' ');
                }
                head.flip();
                writeFully(out, head);
                ByteBuffer buf = ByteBuffer.allocate(1 << 20).order(ByteOrder.LITTLE_ENDIAN);
                for (String name : names) {
                    float[] data = tensors.get(name).data();
                    for (int i = 0; i < data.length; ) {
                        buf.clear();
                        int n = Math.min(data.length - i, buf.capacity() / 4);
                        buf.asFloatBuffer().put(data, i, n);
                        buf.limit(n * 4);
                        writeFully(out, buf);
                        i += n;
                    }
                }
            }
        });
    }

    private static void writeFully(FileChannel out, ByteBuffer buf) throws IOException {
        while (buf.hasRemaining()) {
            out.write(buf);
        }
    }

    /** True when the file exists (used to detect formats). */
    static boolean exists(Path p) {
        return Files.isRegularFile(p);
    }
}
