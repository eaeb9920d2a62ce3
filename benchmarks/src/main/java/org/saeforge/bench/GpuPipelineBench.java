package org.saeforge.bench;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.saeforge.core.SaeException;
import org.saeforge.core.data.ActivationSource;
import org.saeforge.core.data.ActivationSources;
import org.saeforge.core.data.BadRowPolicy;
import org.saeforge.core.data.BatchStream;
import org.saeforge.core.data.HeldOutSplit;
import org.saeforge.core.data.RowGather;
import org.saeforge.core.io.Json;
import org.saeforge.core.kernels.cuda.CudaBatchFeed;
import org.saeforge.core.kernels.cuda.CudaKernels;
import org.saeforge.core.kernels.cuda.CudaTrainDevice;
import org.saeforge.core.kernels.cuda.GemmPrecision;

/**
 * The GPU input pipeline alone, no training: rows per second through the ids-only stream, the gather into pinned
 * memory, the asynchronous copy and the widening kernel ({@code pipeline_rows_per_sec}), and through the host side
 * alone, the same reading and gathering into an ordinary buffer ({@code host_rows_per_sec}). Same split, seed and
 * shuffle-buffer default as {@code sae train}. Prints one JSON line.
 *
 * <p>Usage: {@code GpuPipelineBench --data DIR [--batch 8192] [--batches 200] [--seed 0] [--host-only]}; {@code --host-only}
 * measures the host side alone (no GPU needed).
 */
public final class GpuPipelineBench {
    private GpuPipelineBench() {
    }

    public static void main(String[] args) {
        try {
            System.out.println(Json.compact(run(args)));
        } catch (SaeException e) {
            System.err.println("GpuPipelineBench: " + e.getMessage());
            System.exit(e.exitCode());
        }
    }

    static ObjectNode run(String[] args) {
        Path data = null;
        int batch = 8192;
        int batches = 200;
        long seed = 0;
        boolean hostOnly = false;
        for (int i = 0; i < args.length; i++) {
            if (args[i].equals("--host-only")) {
                hostOnly = true;
                continue;
            }
            String v = i + 1 < args.length ? args[i + 1] : null;
            switch (args[i]) {
                case "--data" -> data = Path.of(v);
                case "--batch" -> batch = Integer.parseInt(v);
                case "--batches" -> batches = Integer.parseInt(v);
                case "--seed" -> seed = Long.parseLong(v);
                default -> throw new SaeException("unknown argument " + args[i]
                        + " (--data DIR [--batch N] [--batches N] [--seed S] [--host-only])");
            }
            i++;
        }
        if (data == null) {
            throw new SaeException("--data is required");
        }
        int warm = 5;
        try (ActivationSource src = ActivationSources.open(data)) {
            HeldOutSplit split = HeldOutSplit.create(src.numRows(), HeldOutSplit.defaultEvalRows(src.numRows()), seed);
            BatchStream.Options o = BatchStream.Options.of(BatchStream.defaultBufferBytes(src.dIn()), BadRowPolicy.SKIP);
            ObjectNode out = Json.object();
            out.put("data", data.toString());
            out.put("dtype", src.dtype());
            out.put("rows", src.numRows());
            out.put("d_in", src.dIn());
            out.put("batch", batch);
            out.put("batches", batches);
            RowGather gather = new RowGather(src);
            out.put("host_rows_per_sec", Math.round(hostOnly(src, split, seed, o, gather, batch, batches + warm)));
            System.err.printf(Locale.ROOT, "GpuPipelineBench: %s: host side (ids + gather as %s) %d rows/s%n", data,
                    gather.stored().name().toLowerCase(Locale.ROOT), out.path("host_rows_per_sec").asLong());
            if (hostOnly) {
                return out;
            }
            try (CudaKernels k = CudaKernels.open(CudaKernels.Options.defaults());
                 CudaTrainDevice dev = CudaTrainDevice.open(k, GemmPrecision.BF16);
                 CudaBatchFeed feed = CudaBatchFeed.open(dev, src, split, seed, o, batch, 0, batches + warm)) {
                out.put("device", k.context().deviceName());
                out.put("transfer", feed.describe());
                for (int i = 0; i < warm; i++) {
                    feed.next();
                }
                dev.synchronize();
                double waitBefore = feed.waitSeconds();
                long t0 = System.nanoTime();
                for (int i = 0; i < batches; i++) {
                    feed.next();
                }
                dev.synchronize();
                double secs = (System.nanoTime() - t0) / 1e9;
                double rps = (double) batches * batch / secs;
                out.put("pipeline_rows_per_sec", Math.round(rps));
                out.put("pipeline_gb_per_sec_as_stored", rps * gather.rowBytes() / 1e9);
                out.put("reader_wait_seconds", feed.waitSeconds() - waitBefore);
                out.put("seconds", secs);
            }
            System.err.printf(Locale.ROOT, "GpuPipelineBench: %s: pipeline %d rows/s (%s)%n", data, out.path("pipeline_rows_per_sec").asLong(),
                    out.path("transfer").asText());
            return out;
        }
    }

    /**
     * The reader's and gather threads' work without the GPU: ids drawn on one thread while the previous batch's rows are
     * gathered as stored by the same number of threads as the pipeline's, into an ordinary buffer.
     */
    private static double hostOnly(ActivationSource src, HeldOutSplit split, long seed, BatchStream.Options o, RowGather gather, int batch,
                                   int batches) {
        int threads = Math.max(1, Math.min(8, Runtime.getRuntime().availableProcessors() / 2));
        ExecutorService pool = Executors.newFixedThreadPool(threads + 1);
        ByteBuffer buf = ByteBuffer.allocateDirect(batch * gather.rowBytes()).order(ByteOrder.LITTLE_ENDIAN);
        java.util.concurrent.BlockingQueue<long[]> drawn = new java.util.concurrent.ArrayBlockingQueue<>(2);
        try (BatchStream s = BatchStream.rowIdsOnly(src, split, seed, o)) {
            Future<?> ids = pool.submit(() -> {
                for (int b = 0; b < batches; b++) {
                    long[] next = new long[batch];
                    s.nextRowIds(next, 0, batch);
                    drawn.put(next);
                }
                return null;
            });
            long t0 = 0;
            int per = (batch + threads - 1) / threads;
            for (int b = 0; b < batches; b++) {
                if (b == 5) {
                    t0 = System.nanoTime();
                }
                long[] rowIds = drawn.take();
                Future<?>[] parts = new Future<?>[threads];
                for (int t = 0; t < threads; t++) {
                    int from = Math.min(batch, t * per);
                    int to = Math.min(batch, from + per);
                    parts[t] = pool.submit(() -> gather.gather(rowIds, from, to, buf, from * gather.rowBytes()));
                }
                for (Future<?> f : parts) {
                    f.get();
                }
            }
            ids.get();
            return (double) (batches - 5) * batch / ((System.nanoTime() - t0) / 1e9);
        } catch (Exception e) {
            throw SaeException.internal("host pipeline benchmark failed: " + e.getMessage(), e);
        } finally {
            pool.shutdownNow();
        }
    }
}
