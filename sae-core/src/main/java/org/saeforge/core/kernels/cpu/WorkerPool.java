package org.saeforge.core.kernels.cpu;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A fixed set of worker threads owned by one backend. {@link #forEach} splits a range into one contiguous part
 * per worker, runs part 0 on the calling thread, and tells each part its worker index so that it can use
 * per-worker scratch buffers without allocation or locking.
 */
public final class WorkerPool implements AutoCloseable {

    /** Work on the index range [start, end) by worker {@code worker}. */
    @FunctionalInterface
    public interface RangeTask {
        void run(int worker, int start, int end);
    }

    private final int threads;
    private final ExecutorService executor;

    public WorkerPool(int threads) {
        if (threads < 1) {
            throw new IllegalArgumentException("threads must be >= 1, got " + threads);
        }
        this.threads = threads;
        if (threads == 1) {
            executor = null;
        } else {
            AtomicInteger id = new AtomicInteger();
            executor = Executors.newFixedThreadPool(threads - 1, r -> {
                Thread t = new Thread(r, "sae-cpu-" + id.incrementAndGet());
                t.setDaemon(true);
                return t;
            });
        }
    }

    public int threads() {
        return threads;
    }

    /** Runs task over [0, n) split into at most {@link #threads()} contiguous parts, and waits for all. */
    public void forEach(int n, RangeTask task) {
        int parts = Math.min(threads, n);
        if (parts <= 1) {
            if (n > 0) {
                task.run(0, 0, n);
            }
            return;
        }
        List<Future<?>> futures = new ArrayList<>(parts - 1);
        for (int p = 1; p < parts; p++) {
            int worker = p;
            int start = (int) ((long) n * p / parts);
            int end = (int) ((long) n * (p + 1) / parts);
            futures.add(executor.submit(() -> task.run(worker, start, end)));
        }
        RuntimeException first = null;
        try {
            task.run(0, 0, (int) ((long) n / parts));
        } catch (RuntimeException e) {
            first = e;
        }
        for (Future<?> f : futures) {
            try {
                f.get();
            } catch (ExecutionException e) {
                if (first == null) {
                    first = e.getCause() instanceof RuntimeException re ? re : new IllegalStateException(e.getCause());
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted while waiting for workers", e);
            }
        }
        if (first != null) {
            throw first;
        }
    }

    /** Like {@link #forEach} but with boundaries that split [0, n) by the cumulative weights in {@code prefix}. */
    public void forEachBalanced(int n, int[] prefix, RangeTask task) {
        forEachBalanced(n, prefix, 1, task);
    }

    /** {@link #forEachBalanced(int, int[], RangeTask)} with every range boundary a multiple of {@code align}. */
    public void forEachBalanced(int n, int[] prefix, int align, RangeTask task) {
        int parts = Math.min(threads, n);
        if (parts <= 1) {
            forEach(n, task);
            return;
        }
        long total = prefix[n];
        int[] bounds = new int[parts + 1];
        bounds[parts] = n;
        int j = 0;
        for (int p = 1; p < parts; p++) {
            long target = total * p / parts;
            while (j < n && prefix[j] < target) {
                j++;
            }
            int aligned = Math.min(n, (j + align / 2) / align * align);
            bounds[p] = Math.max(aligned, bounds[p - 1]);
        }
        forEach(parts, (w, s, e) -> {
            for (int p = s; p < e; p++) {
                if (bounds[p] < bounds[p + 1]) {
                    task.run(p, bounds[p], bounds[p + 1]);
                }
            }
        });
    }

    @Override
    public void close() {
        if (executor != null) {
            executor.shutdownNow();
        }
    }
}
