package org.saeforge.bench;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryPoolMXBean;
import java.lang.management.MemoryType;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDate;
import java.util.HashMap;
import java.util.Map;
import org.saeforge.core.data.ActivationSource;
import org.saeforge.core.data.Modality;
import org.saeforge.core.data.NpySource;
import org.saeforge.core.data.RowMetadata;
import org.saeforge.core.io.AtomicFiles;
import org.saeforge.core.io.Json;
import org.saeforge.core.kernels.cpu.CpuKernels;
import org.saeforge.core.model.SaeConfig;
import org.saeforge.core.model.SparseAutoencoder;
import org.saeforge.core.tensor.FloatMatrix;
import org.saeforge.train.Initializer;
import org.saeforge.train.dictionary.DictionaryBuilder;
import org.saeforge.train.dictionary.DictionaryConfig;
import org.saeforge.train.dictionary.DictionaryListener;
import org.saeforge.train.dictionary.DictionaryResult;
import org.saeforge.train.dictionary.DictionaryWriter;
import org.saeforge.train.synth.SyntheticData;

/**
 * End-to-end timing and memory of {@code sae dictionary}: a TopK SAE (default 16,384 latents, k 32, initialised as
 * the trainer does) over synthetic activations (default 1M rows of d_in 768, a cached .npy read by memory map) with
 * paired image/text metadata (row 2s is an image, 2s+1 its caption, source id s), so the per-modality scores, the
 * co-firing bridge and example labels all run. Reports the pass and write times, the peak Java heap (sum of the heap
 * pools' peaks), the peak resident set size (VmHWM, which counts the memory-mapped input) and the largest anonymous
 * resident memory sampled after every batch, and writes {@code benchmarks/results/dictionary-DATE[-TAG].json}.
 *
 * <pre>
 * java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -Xmx2g \
 *     -cp benchmarks/target/benchmarks.jar org.saeforge.bench.DictionaryBenchmark [--rows 1000000] [--num-latents 16384]
 * </pre>
 * Options: {@code --rows --d-in --num-latents --k --threads --data-dir (cache of the generated .npy, default
 * /tmp/saeforge-bench) --results (folder, default benchmarks/results) --tag (suffix of the result file name)}.
 */
public final class DictionaryBenchmark {
    private DictionaryBenchmark() {
    }

    /** Paired metadata computed from the row number: no per-row memory. */
    private record PairedMetadata() implements RowMetadata {
        @Override
        public boolean hasModality() {
            return true;
        }

        @Override
        public boolean hasSourceId() {
            return true;
        }

        @Override
        public boolean hasPosition() {
            return true;
        }

        @Override
        public boolean hasLabel() {
            return true;
        }

        @Override
        public Modality modality(long row) {
            return row % 2 == 0 ? Modality.IMAGE : Modality.TEXT;
        }

        @Override
        public long sourceId(long row) {
            return row / 2;
        }

        @Override
        public long position(long row) {
            return 0;
        }

        @Override
        public String label(long row) {
            return (row % 2 == 0 ? "image " : "caption of image ") + row / 2 % 5000;
        }
    }

    public static void main(String[] args) throws IOException {
        Map<String, String> opt = new HashMap<>();
        for (int i = 0; i + 1 < args.length; i += 2) {
            opt.put(args[i].replaceFirst("^--", ""), args[i + 1]);
        }
        long rows = Long.parseLong(opt.getOrDefault("rows", "1000000"));
        int dIn = Integer.parseInt(opt.getOrDefault("d-in", "768"));
        int numLatents = Integer.parseInt(opt.getOrDefault("num-latents", "16384"));
        int k = Integer.parseInt(opt.getOrDefault("k", "32"));
        int threads = Integer.parseInt(opt.getOrDefault("threads", String.valueOf(Runtime.getRuntime().availableProcessors())));
        Path dataDir = Path.of(opt.getOrDefault("data-dir", "/tmp/saeforge-bench"));
        Path results = Path.of(opt.getOrDefault("results", "benchmarks/results"));
        String tag = opt.containsKey("tag") ? "-" + opt.get("tag") : "";

        Files.createDirectories(dataDir);
        Path data = dataDir.resolve(String.format("synth-%d-x%d.npy", rows, dIn));
        double genSeconds = 0;
        if (!Files.exists(data)) {
            System.err.printf("generating %,d synthetic rows of width %d into %s%n", rows, dIn, data);
            long g0 = System.nanoTime();
            new SyntheticData(dIn, numLatents, 20, 1).write(data, rows);
            genSeconds = (System.nanoTime() - g0) / 1e9;
        }

        try (ActivationSource source = NpySource.open(data); CpuKernels kernels = new CpuKernels(threads)) {
            FloatMatrix sample = new FloatMatrix(4096, dIn);
            source.readRows(0, 4096, sample.data(), 0);
            SparseAutoencoder sae = Initializer.init(SaeConfig.topK(dIn, numLatents, k), sample, 2);
            DictionaryConfig config = DictionaryConfig.defaults();
            long[] lastReport = {System.nanoTime()};
            long[] peakAnonKb = {statusKb("RssAnon:")};
            DictionaryListener progress = new DictionaryListener() {
                @Override
                public void onRows(long done) {
                    peakAnonKb[0] = Math.max(peakAnonKb[0], statusKb("RssAnon:"));
                    long now = System.nanoTime();
                    if (now - lastReport[0] > 30_000_000_000L) {
                        lastReport[0] = now;
                        System.err.printf("  %,d / %,d rows%n", done, rows);
                    }
                }

                @Override
                public void onInfo(String message) {
                    peakAnonKb[0] = Math.max(peakAnonKb[0], statusKb("RssAnon:"));
                    System.err.println("  " + message);
                }
            };
            System.err.printf("dictionary of %,d latents (k %d) over %,d rows x %d, %d threads, %s, max heap %d MiB%n", numLatents, k, rows,
                    dIn, threads, kernels.gemmName(), Runtime.getRuntime().maxMemory() >> 20);
            long t0 = System.nanoTime();
            DictionaryResult result = new DictionaryBuilder(config, kernels, progress).build(sae, source, new PairedMetadata(), null);
            long t1 = System.nanoTime();
            Path out = dataDir.resolve("dict-out");
            DictionaryWriter.write(result, out);
            long t2 = System.nanoTime();
            peakAnonKb[0] = Math.max(peakAnonKb[0], statusKb("RssAnon:"));

            ObjectNode o = Json.object();
            o.put("benchmark", "dictionary");
            o.put("date", LocalDate.now().toString());
            o.put("cpu_model", cpuModel());
            o.put("available_processors", Runtime.getRuntime().availableProcessors());
            o.put("threads", threads);
            o.put("java", Runtime.version().toString());
            o.put("gemm", kernels.gemmName());
            o.put("rows", rows);
            o.put("d_in", dIn);
            o.put("num_latents", numLatents);
            o.put("k", k);
            o.put("top_n", config.topN());
            o.put("metadata", "paired image/caption rows, source id per pair, labels");
            o.put("build_seconds", round((t1 - t0) / 1e9));
            o.put("write_seconds", round((t2 - t1) / 1e9));
            o.put("total_seconds", round((t2 - t0) / 1e9));
            o.put("rows_per_second", Math.round(rows / ((t1 - t0) / 1e9)));
            o.put("encode_gflop", round(2.0 * rows * dIn * numLatents / 1e9));
            o.put("effective_gflops", round(2.0 * rows * dIn * numLatents / ((t1 - t0) / 1e9) / 1e9));
            o.put("max_heap_mb", Runtime.getRuntime().maxMemory() >> 20);
            o.put("peak_heap_mb", peakHeapBytes() >> 20);
            o.put("peak_rss_mb", statusKb("VmHWM:") >> 10);
            o.put("peak_rss_anon_mb_sampled", peakAnonKb[0] >> 10);
            o.put("rss_note", "peak_rss_mb (VmHWM) includes the memory-mapped input file's pages (file-backed, reclaimable); "
                    + "peak_rss_anon_mb_sampled is the largest anonymous resident memory (heap, native BLAS buffers) seen after "
                    + "each batch and each phase");
            o.put("sae_weights_mb", (2L * numLatents * dIn * 4) >> 20);
            o.put("bridge_pair_sample_rate", result.summaryJson().path("cross_modal").path("pair_sample_rate").asDouble());
            o.put("output_mb", folderBytes(out) >> 20);
            if (genSeconds > 0) {
                o.put("data_generation_seconds", round(genSeconds));
            }
            o.set("metrics", result.summaryJson().get("metrics"));
            Files.createDirectories(results);
            Path file = results.resolve("dictionary-" + LocalDate.now() + tag + ".json");
            AtomicFiles.writeString(file, Json.pretty(o) + "\n");
            System.out.println(Json.pretty(o));
            System.err.println("wrote " + file);
        }
    }

    private static double round(double v) {
        return Math.round(v * 100) / 100.0;
    }

    private static long peakHeapBytes() {
        long sum = 0;
        for (MemoryPoolMXBean pool : ManagementFactory.getMemoryPoolMXBeans()) {
            if (pool.getType() == MemoryType.HEAP && pool.getPeakUsage() != null) {
                sum += pool.getPeakUsage().getUsed();
            }
        }
        return sum;
    }

    /** A "Name:  N kB" line of /proc/self/status, in kB (-1 when absent). */
    private static long statusKb(String name) {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith(name)) {
                    return Long.parseLong(line.replaceAll("[^0-9]", ""));
                }
            }
        } catch (IOException e) {
            return -1;
        }
        return -1;
    }

    private static String cpuModel() throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/cpuinfo"))) {
            if (line.startsWith("model name")) {
                return line.substring(line.indexOf(':') + 1).trim();
            }
        }
        return "unknown";
    }

    private static long folderBytes(Path dir) throws IOException {
        try (var files = Files.list(dir)) {
            return files.mapToLong(p -> p.toFile().length()).sum();
        }
    }
}
