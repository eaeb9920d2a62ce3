package org.saeforge.core.kernels.cuda;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.saeforge.core.SaeException;
import org.saeforge.core.data.ActivationSource;
import org.saeforge.core.data.BatchStream;
import org.saeforge.core.data.HeldOutSplit;
import org.saeforge.core.data.RowGather;
import org.saeforge.core.kernels.device.BatchFeed;
import org.saeforge.core.kernels.device.DeviceArray;
import org.saeforge.core.kernels.device.DeviceMemoryPlan;
import org.saeforge.core.kernels.device.DeviceMemoryPlan.Category;
import org.saeforge.core.kernels.device.TrainDevice;

/**
 * The GPU input pipeline. A reader thread takes the row ids of each batch from an ids-only {@link BatchStream} (the
 * order of the CPU trainer for the same seed); a gather thread, with a few helpers, copies those rows as stored (float16
 * stays 2 bytes) into one of {@value #HOST_SLOTS} pinned host buffers, while the reader draws the next batch's ids. The training thread copies a filled buffer to one of two
 * device staging buffers on a second, non-blocking stream while the previous step computes, and widens it to float32
 * (times the activation scale) with {@code convert_rows} on the kernel stream, which waits for the copy through an event;
 * the next copy into that staging buffer waits for the conversion through another. The host never waits for the device
 * here except to hand a pinned buffer back to the reader once its copy is done.
 */
public final class CudaBatchFeed implements BatchFeed {
    /** Pinned host buffers: one being copied, one ready, the others being filled. */
    public static final int HOST_SLOTS = 4;
    private static final int STAGING = 2;

    /** A pinned buffer and the batch it holds (or the error its reading hit). */
    private static final class Slot {
        final PinnedBuffer host;
        final long[] ids;
        long badRows;
        long normDropped;
        RuntimeException error;

        Slot(PinnedBuffer host, int rows) {
            this.host = host;
            this.ids = new long[rows];
        }
    }

    private final CudaTrainDevice dev;
    private final CudaContext ctx;
    private final ActivationSource source;
    private final BatchStream stream;
    private final RowGather gather;
    private final int rows;
    private final int dIn;
    private final int ld;
    private final float scale;
    private final long batchBytes;
    private final long batches;
    private final long skipBatches;
    private final DeviceBuffer[] staging = new DeviceBuffer[STAGING];
    private final DeviceArray x;
    private final DeviceArray tv;
    private final CudaStream copyStream;
    private final CudaEvent[] copied = new CudaEvent[STAGING];
    private final CudaEvent[] consumed = new CudaEvent[STAGING];
    private final List<Slot> slots = new ArrayList<>();
    private final BlockingQueue<Slot> free = new ArrayBlockingQueue<>(HOST_SLOTS);
    private final BlockingQueue<Slot> drawn = new ArrayBlockingQueue<>(HOST_SLOTS);
    private final BlockingQueue<Slot> ready = new ArrayBlockingQueue<>(HOST_SLOTS);
    private final Slot[] inFlight = new Slot[STAGING];
    private final ExecutorService helpers;
    private final int gatherThreads;
    private final Thread reader;
    private final Thread gatherer;
    private final long[] ids;
    private volatile boolean closed;
    private long current = -1;
    private long issued;
    private long badRows;
    private long normDropped;
    private long waitNanos;

    private CudaBatchFeed(CudaTrainDevice dev, ActivationSource source, HeldOutSplit split, long seed, BatchStream.Options options, int rows,
                          long skipBatches, long batches) {
        this.dev = dev;
        this.ctx = dev.context();
        this.source = source;
        this.gather = new RowGather(source);
        this.rows = rows;
        this.dIn = source.dIn();
        this.ld = dev.ld(dIn);
        this.scale = options.scale();
        this.batchBytes = (long) rows * gather.rowBytes();
        this.batches = batches;
        this.skipBatches = skipBatches;
        this.ids = new long[rows];
        for (int i = 0; i < STAGING; i++) {
            staging[i] = dev.alloc(batchBytes, "input staging").buf;
        }
        this.x = dev.floats((long) rows * ld, "batch");
        this.tv = dev.doubles(1, "batch total variance");
        this.copyStream = new CudaStream(ctx);
        this.gatherThreads = Math.max(1, Math.min(8, Runtime.getRuntime().availableProcessors() / 2));
        try {
            for (int i = 0; i < STAGING; i++) {
                copied[i] = new CudaEvent(ctx, false);
                consumed[i] = new CudaEvent(ctx, false);
            }
            for (int i = 0; i < HOST_SLOTS; i++) {
                Slot s = new Slot(new PinnedBuffer(ctx, batchBytes), rows);
                slots.add(s);
                free.add(s);
            }
            this.stream = BatchStream.rowIdsOnly(source, split, seed, options);
        } catch (RuntimeException | Error e) {
            releaseCuda(true);
            throw e;
        }
        this.helpers = gatherThreads > 1 ? Executors.newFixedThreadPool(gatherThreads - 1, r -> {
            Thread t = new Thread(r, "saeforge-gpu-gather-helper");
            t.setDaemon(true);
            return t;
        }) : null;
        this.reader = new Thread(this::readLoop, "saeforge-gpu-reader");
        this.gatherer = new Thread(this::gatherLoop, "saeforge-gpu-gather");
        reader.setDaemon(true);
        gatherer.setDaemon(true);
        reader.start();
        gatherer.start();
    }

    /** Frees the stream, events and (when no thread can still write them) the pinned buffers made so far. */
    private void releaseCuda(boolean freePinned) {
        copyStream.close();
        for (int i = 0; i < STAGING; i++) {
            if (copied[i] != null) {
                copied[i].close();
            }
            if (consumed[i] != null) {
                consumed[i].close();
            }
        }
        if (freePinned) {
            for (Slot s : slots) {
                s.host.close();
            }
        }
    }

    /**
     * The input pipeline of a run on the CUDA training device: {@code batches} batches of {@code rows} rows after
     * skipping {@code skipBatches} (resume).
     */
    public static CudaBatchFeed open(TrainDevice dev, ActivationSource source, HeldOutSplit split, long seed, BatchStream.Options options,
                                     int rows, long skipBatches, long batches) {
        if (!(dev instanceof CudaTrainDevice)) {
            throw new IllegalArgumentException("the CUDA input pipeline needs the CUDA training device, got " + dev.description());
        }
        if ((long) rows * new RowGather(source).rowBytes() > Integer.MAX_VALUE - 8) {
            throw new SaeException("--device cuda: a batch of " + rows + " rows of " + source.dIn() + " is more than 2 GiB; lower --batch-size");
        }
        return new CudaBatchFeed((CudaTrainDevice) dev, source, split, seed, options, rows, skipBatches, batches);
    }

    /** The device memory {@link #open} allocates. */
    public static DeviceMemoryPlan plan(TrainDevice dev, ActivationSource source, int rows) {
        RowGather g = new RowGather(source);
        return new DeviceMemoryPlan()
                .add(Category.BATCH, "staging, as stored, double-buffered", (long) STAGING * rows, g.rowBytes())
                .add(Category.BATCH, "batch (float32)", (long) rows * dev.ld(source.dIn()), 4)
                .add(Category.BATCH, "batch total variance", 1, 8);
    }

    /** How rows travel: {@code float16 as stored} or {@code float32 widened on the host}. */
    public String describe() {
        return gather.asStored() ? gather.stored().name().toLowerCase(java.util.Locale.ROOT) + " as stored"
                : "float32 widened on the host (" + source.dtype() + " source without raw reads)";
    }

    /** Draws each batch's row ids (and the skip counts as of it) into a free slot, for the gather thread. */
    private void readLoop() {
        Slot slot = null;
        try {
            slot = free.take();
            for (long s = 0; s < skipBatches; s++) {
                stream.nextRowIds(slot.ids, 0, rows);
            }
            for (long t = 0; t < batches && !closed; t++) {
                if (slot == null) {
                    slot = free.take();
                }
                stream.nextRowIds(slot.ids, 0, rows);
                slot.badRows = stream.badRows();
                slot.normDropped = stream.normDropped();
                drawn.put(slot);
                slot = null;
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (RuntimeException e) {
            if (slot != null) {
                slot.error = e;
                drawn.offer(slot);
            }
        }
    }

    /** Copies the rows of each drawn slot into its pinned buffer; a slot carrying an error passes on as it is. */
    private void gatherLoop() {
        try {
            for (long t = 0; t < batches && !closed; t++) {
                Slot slot = drawn.take();
                if (slot.error == null) {
                    try {
                        fill(slot);
                    } catch (RuntimeException e) {
                        slot.error = e;
                    }
                }
                ready.put(slot);
                if (slot.error != null) {
                    return;
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** Gathers the slot's rows into its pinned buffer, split across the helper threads. */
    private void fill(Slot slot) throws InterruptedException {
        if (helpers == null) {
            gather.gather(slot.ids, 0, rows, slot.host.buffer(), 0);
            return;
        }
        int per = (rows + gatherThreads - 1) / gatherThreads;
        List<Future<?>> parts = new ArrayList<>();
        for (int from = per; from < rows; from += per) {
            int f = from;
            int to = Math.min(rows, from + per);
            parts.add(helpers.submit(() -> gather.gather(slot.ids, f, to, slot.host.buffer(), f * gather.rowBytes())));
        }
        gather.gather(slot.ids, 0, Math.min(per, rows), slot.host.buffer(), 0);
        for (Future<?> p : parts) {
            try {
                p.get();
            } catch (ExecutionException e) {
                throw e.getCause() instanceof RuntimeException r ? r : new IllegalStateException(e.getCause());
            }
        }
    }

    /** Copies batch t's rows to its staging buffer on the copy stream, once the conversion of batch t − 2 has read it. */
    private void issue(long t) {
        if (t >= batches) {
            return;
        }
        int i = (int) (t % STAGING);
        long w0 = System.nanoTime();
        Slot slot;
        try {
            slot = ready.take();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new SaeException("interrupted while waiting for activation rows");
        }
        waitNanos += System.nanoTime() - w0;
        if (slot.error != null) {
            throw slot.error;
        }
        if (t >= STAGING) {
            copyStream.waitFor(consumed[i]);
        }
        copyStream.copyToDevice(slot.host, staging[i], batchBytes);
        copied[i].record(copyStream);
        inFlight[i] = slot;
        issued = t + 1;
    }

    @Override
    public void next() {
        long s = ++current;
        if (s >= batches) {
            throw new IllegalStateException("the input pipeline was opened for " + batches + " batches");
        }
        int i = (int) (s % STAGING);
        if (issued == s) {
            issue(s);
        }
        copied[i].makeKernelsWait();
        dev.trainKernels().convertRows(staging[i], gather.stored().code(), gather.stored().bytes(), rows, dIn, ld, scale,
                CudaTrainDevice.buf(x));
        consumed[i].record();
        dev.totalVariance(x, rows, ld, tv);
        Slot slot = inFlight[i];
        inFlight[i] = null;
        copied[i].synchronize();
        System.arraycopy(slot.ids, 0, ids, 0, rows);
        badRows = slot.badRows;
        normDropped = slot.normDropped;
        free.add(slot);
        issue(s + 1);
    }

    @Override
    public DeviceArray batch() {
        return x;
    }

    @Override
    public DeviceArray totalVariance() {
        return tv;
    }

    @Override
    public long[] rowIds() {
        return ids;
    }

    @Override
    public long badRows() {
        return badRows;
    }

    @Override
    public long normDropped() {
        return normDropped;
    }

    @Override
    public double waitSeconds() {
        return waitNanos / 1e9;
    }

    @Override
    public void close() {
        closed = true;
        reader.interrupt();
        gatherer.interrupt();
        boolean quiet = true;
        try {
            reader.join(30_000);
            gatherer.join(30_000);
            if (helpers != null) {
                helpers.shutdownNow();
                quiet = helpers.awaitTermination(30, java.util.concurrent.TimeUnit.SECONDS);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            quiet = false;
        }
        quiet &= !reader.isAlive() && !gatherer.isAlive();
        stream.close();
        try {
            copyStream.synchronize();
        } finally {
            // a gather thread still copying into a pinned buffer would write freed memory: leave them to the process then
            releaseCuda(quiet);
        }
    }
}
