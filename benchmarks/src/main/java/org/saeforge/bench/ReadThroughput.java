package org.saeforge.bench;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.jhdf.HdfFile;
import io.jhdf.WritableHdfFile;
import io.jhdf.api.DatasetCreationOptions;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDate;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;
import org.saeforge.core.data.ActivationSource;
import org.saeforge.core.data.ActivationSources;
import org.saeforge.core.data.BadRowPolicy;
import org.saeforge.core.data.BatchStream;
import org.saeforge.core.data.HeldOutSplit;
import org.saeforge.core.data.NpyWriter;
import org.saeforge.core.data.ShardFolder;
import org.saeforge.core.io.Json;
import org.saeforge.core.tensor.FloatMatrix;
import org.saeforge.core.tensor.Half;
import org.saeforge.train.TrainConfig;
import org.saeforge.train.TrainResult;
import org.saeforge.train.Trainer;

/**
 * Read throughput of every activation format at dIn 768 (a benchmark, not a test). Writes one file per format into
 * a work folder, reads each in 4096-row slices (sequential, page cache warm, best of 5 after a warm-up pass), then
 * measures the shuffled {@link BatchStream} (prefetch + shuffle buffer) from a shard folder and, for the goal
 * "training from shards is as fast as from RAM", a short training run in memory vs streaming from shards.
 *
 * <p>Usage: {@code java -cp benchmarks/target/benchmarks.jar org.saeforge.bench.ReadThroughput WORK_DIR OUT.json [ROWS]}
 */
public final class ReadThroughput {
    static final int D = 768;
    static final int SLICE = 4096;

    private ReadThroughput() {
    }

    public static void main(String[] args) throws Exception {
        Path work = Path.of(args[0]);
        Path out = Path.of(args[1]);
        int rows = args.length > 2 ? Integer.parseInt(args[2]) : 65536;
        Files.createDirectories(work);
        float[] data = activations(rows);
        Map<String, String[]> inputs = writeInputs(work, data, rows);

        ObjectNode result = Json.object();
        result.put("what", "activation read throughput per format, dIn " + D + ", 4096-row slices, sequential, page cache warm, best of 5 after a warm-up pass");
        result.put("date", LocalDate.now().toString());
        ObjectNode machine = result.putObject("machine");
        machine.put("cpu", cpuModel());
        machine.put("cores", Runtime.getRuntime().availableProcessors());
        machine.put("jdk", Runtime.version().toString());
        machine.put("load_average_1min_at_start", loadAverage());
        result.put("rows", rows);
        result.put("d_in", D);
        result.put("float32_mb", rows * (double) D * 4 / 1e6);
        ArrayNode formats = result.putArray("formats");
        for (Map.Entry<String, String[]> e : inputs.entrySet()) {
            Path p = work.resolve(e.getValue()[0]);
            String dataset = e.getValue()[1];
            long t0 = System.nanoTime();
            double openSeconds;
            try (ActivationSource s = ActivationSources.open(p, dataset)) {
                openSeconds = (System.nanoTime() - t0) / 1e9;
                double best = Double.MAX_VALUE;
                double check = 0;
                for (int pass = 0; pass < 6; pass++) {
                    long t = System.nanoTime();
                    check = readAll(s);
                    if (pass > 0) {
                        best = Math.min(best, (System.nanoTime() - t) / 1e9);
                    }
                }
                ObjectNode f = formats.addObject();
                f.put("format", e.getKey());
                f.put("dtype", s.dtype());
                f.put("file_mb", Math.round(size(p) / 1e4) / 100.0);
                f.put("open_seconds", Math.round(openSeconds * 1000) / 1000.0);
                f.put("rows_per_s", Math.round(rows / best));
                f.put("mb_per_s_float32", Math.round(rows * (double) D * 4 / 1e6 / best));
                f.put("mb_per_s_stored", Math.round(size(p) / 1e6 / best));
                f.put("checksum", check);
                System.out.printf("%-28s %10.0f rows/s %8.0f MB/s (float32)  open %.3fs%n", e.getKey(), rows / best,
                        rows * (double) D * 4 / 1e6 / best, openSeconds);
            }
        }
        result.set("batch_stream", batchStream(work.resolve("shards-f32")));
        result.set("training", training(work.resolve("shards-f32"), data, rows));
        result.put("load_average_1min_at_end", loadAverage());
        Files.writeString(out, Json.pretty(result) + "\n", StandardCharsets.UTF_8);
        System.out.println("wrote " + out);
    }

    private static double readAll(ActivationSource s) {
        float[] buf = new float[SLICE * D];
        double check = 0;
        for (long first = 0; first < s.numRows(); first += SLICE) {
            int n = (int) Math.min(SLICE, s.numRows() - first);
            s.readRows(first, n, buf, 0);
            check += buf[0] + buf[n * D - 1];
        }
        return check;
    }

    /** Shuffled batches of 4096 rows from the shard folder through the prefetching shuffle buffer (no compute). */
    private static ObjectNode batchStream(Path shards) {
        ObjectNode o = Json.object();
        try (ActivationSource s = ActivationSources.open(shards)) {
            HeldOutSplit split = HeldOutSplit.create(s.numRows(), 0, 1);
            long budget = s.numRows() * D; // a quarter of the data: forces streaming mode
            try (BatchStream stream = new BatchStream(s, split, 1, budget, BadRowPolicy.SKIP)) {
                FloatMatrix batch = new FloatMatrix(SLICE, D);
                long t = System.nanoTime();
                long served = 0;
                while (served < 4 * s.numRows()) {
                    stream.next(batch);
                    served += SLICE;
                }
                double secs = (System.nanoTime() - t) / 1e9;
                o.put("mode", stream.inMemory() ? "in-memory" : "streaming, shuffle buffer " + budget / 1_000_000 + " MB");
                o.put("rows_per_s", Math.round(served / secs));
                o.put("mb_per_s_float32", Math.round(served * (double) D * 4 / 1e6 / secs));
            }
        }
        System.out.println("batch stream " + o);
        return o;
    }

    /** A short training run (same seed and steps) with rows held in memory vs streamed from shards. */
    private static ObjectNode training(Path shards, float[] data, int rows) throws IOException {
        ObjectNode o = Json.object();
        TrainConfig base = TrainConfig.defaults(4096, 32).withBatchSize(1024).withTokens(40L * 1024).withEvalRows(1024).withLogEvery(1000);
        try (ActivationSource s = ActivationSources.open(shards)) {
            for (String mode : new String[] {"in_memory", "shards_streaming", "in_memory_again"}) {
                TrainConfig c = mode.startsWith("in_memory") ? base.withBufferBytes(1L << 31) : base.withBufferBytes((long) rows * D);
                TrainResult r = new Trainer(c, null).train(s, null, null, Map.of());
                o.put(mode + "_rows_per_s", Math.round(r.rowsPerSec()));
                System.out.printf("train %s: %.0f rows/s%n", mode, r.rowsPerSec());
            }
        }
        o.put("config", "TopK 4096 latents, k 32, batch 1024, 40 steps, dIn " + D + ", cpu backend");
        o.put("note", "the first in-memory run includes JIT warm-up; compare shards_streaming with in_memory_again");
        return o;
    }

    private static float[] activations(int rows) {
        SplittableRandom rnd = new SplittableRandom(7);
        float[] x = new float[rows * D];
        for (int i = 0; i < x.length; i++) {
            // roughly activation-like: gaussian, a few heavy dimensions, values representable in float16
            x[i] = (float) (rnd.nextGaussian() * ((i % D) < 8 ? 20 : 1));
        }
        return x;
    }

    private static Map<String, String[]> writeInputs(Path work, float[] x, int rows) throws IOException {
        Map<String, String[]> m = new LinkedHashMap<>();
        NpyWriter.write(work.resolve("acts.npy"), x, rows, D);
        m.put("npy float32", new String[] {"acts.npy", null});
        writeNpyF16(work.resolve("acts_f16.npy"), x, rows);
        m.put("npy float16", new String[] {"acts_f16.npy", null});
        zip(work.resolve("acts.npy"), work.resolve("acts_stored.npz"), false);
        m.put("npz stored", new String[] {"acts_stored.npz", null});
        zip(work.resolve("acts.npy"), work.resolve("acts_deflated.npz"), true);
        m.put("npz deflated (inflated at open)", new String[] {"acts_deflated.npz", null});
        writeSafetensors(work.resolve("acts.safetensors"), x, rows, "F32");
        m.put("safetensors F32", new String[] {"acts.safetensors", null});
        writeSafetensors(work.resolve("acts_bf16.safetensors"), x, rows, "BF16");
        m.put("safetensors BF16", new String[] {"acts_bf16.safetensors", null});
        writeHdf5(work.resolve("acts.h5"), x, rows);
        m.put("hdf5 contiguous float32", new String[] {"acts.h5", "/contiguous"});
        m.put("hdf5 chunked gzip+shuffle float32", new String[] {"acts.h5", "/gzip"});
        m.put("hdf5 chunked float32 (no filter)", new String[] {"acts.h5", "/chunked"});
        try (ActivationSource s = ActivationSources.open(work.resolve("acts.npy"))) {
            ShardFolder.write(s, work.resolve("shards-f32"), "float32", 64L << 20, n -> { });
            ShardFolder.write(s, work.resolve("shards-f16"), "float16", 64L << 20, n -> { });
        }
        m.put("shard folder float32", new String[] {"shards-f32", null});
        m.put("shard folder float16", new String[] {"shards-f16", null});
        return m;
    }

    private static void writeNpyF16(Path p, float[] x, int rows) throws IOException {
        String dict = "{'descr': '<f2', 'fortran_order': False, 'shape': (" + rows + ", " + D + "), }";
        int pad = (64 - (10 + dict.length() + 1) % 64) % 64;
        String head = dict + " ".repeat(pad) + "\n";
        ByteBuffer b = ByteBuffer.allocate(10 + head.length() + x.length * 2).order(ByteOrder.LITTLE_ENDIAN);
        b.put((byte) 0x93).put("NUMPY".getBytes(StandardCharsets.US_ASCII)).put((byte) 1).put((byte) 0).putShort((short) head.length());
        b.put(head.getBytes(StandardCharsets.US_ASCII));
        for (float v : x) {
            b.putShort(Half.fromFloat(v));
        }
        Files.write(p, b.array());
    }

    private static void zip(Path npy, Path npz, boolean deflate) throws IOException {
        byte[] bytes = Files.readAllBytes(npy);
        try (ZipOutputStream z = new ZipOutputStream(Files.newOutputStream(npz))) {
            ZipEntry e = new ZipEntry("acts.npy");
            if (!deflate) {
                e.setMethod(ZipEntry.STORED);
                e.setSize(bytes.length);
                java.util.zip.CRC32 crc = new java.util.zip.CRC32();
                crc.update(bytes);
                e.setCrc(crc.getValue());
            }
            z.putNextEntry(e);
            z.write(bytes);
            z.closeEntry();
        }
    }

    private static void writeSafetensors(Path p, float[] x, int rows, String dtype) throws IOException {
        int bpe = dtype.equals("F32") ? 4 : 2;
        String header = "{\"acts\":{\"dtype\":\"" + dtype + "\",\"shape\":[" + rows + "," + D + "],\"data_offsets\":[0," + (long) x.length * bpe + "]}}";
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        int pad = (8 - h.length % 8) % 8;
        try (OutputStream o = Files.newOutputStream(p)) {
            ByteBuffer head = ByteBuffer.allocate(8 + h.length + pad).order(ByteOrder.LITTLE_ENDIAN);
            head.putLong(h.length + pad).put(h);
            for (int i = 0; i < pad; i++) {
                head.put((byte) ' ');
            }
            o.write(head.array());
            ByteBuffer b = ByteBuffer.allocate(1 << 20).order(ByteOrder.LITTLE_ENDIAN);
            for (float v : x) {
                if (b.remaining() < 4) {
                    o.write(b.array(), 0, b.position());
                    b.clear();
                }
                if (bpe == 4) {
                    b.putFloat(v);
                } else {
                    b.putShort(Half.floatToBf16(v));
                }
            }
            o.write(b.array(), 0, b.position());
        }
    }

    private static void writeHdf5(Path p, float[] x, int rows) {
        float[][] m = new float[rows][];
        for (int r = 0; r < rows; r++) {
            m[r] = java.util.Arrays.copyOfRange(x, r * D, (r + 1) * D);
        }
        try (WritableHdfFile f = HdfFile.write(p)) {
            f.putDataset("contiguous", m);
            f.putDataset("gzip", m, DatasetCreationOptions.builder().chunkDimensions(256, D).shuffle().deflate(4).build());
            f.putDataset("chunked", m, DatasetCreationOptions.builder().chunkDimensions(256, D).build());
        }
    }

    private static long size(Path p) throws IOException {
        if (Files.isDirectory(p)) {
            try (var s = Files.list(p)) {
                return s.mapToLong(f -> f.toFile().length()).sum();
            }
        }
        return Files.size(p);
    }

    private static String cpuModel() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/cpuinfo"))) {
                if (line.startsWith("model name")) {
                    String flags = Files.readString(Path.of("/proc/cpuinfo")).contains(" avx512f") ? " (avx512f)" : " (no avx512f)";
                    return line.substring(line.indexOf(':') + 1).trim() + flags;
                }
            }
        } catch (IOException e) {
            return System.getProperty("os.arch");
        }
        return System.getProperty("os.arch");
    }

    private static double loadAverage() {
        try {
            return Double.parseDouble(Files.readString(Path.of("/proc/loadavg")).split(" ")[0]);
        } catch (IOException | RuntimeException e) {
            return -1;
        }
    }
}
