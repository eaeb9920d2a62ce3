package org.saeforge.core.data;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.SplittableRandom;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import org.saeforge.core.FileFormatException;
import org.saeforge.core.SaeException;
import org.saeforge.core.tensor.FloatMatrix;

/**
 * Shuffled training batches from the training side of a {@link HeldOutSplit}, endlessly (epoch after epoch), seeded
 * and deterministic.
 *
 * <p>When the training rows fit in the buffer budget they are loaded once and every epoch is a fresh permutation
 * (each row exactly once per epoch; a trailing partial batch is dropped, as the PyTorch baseline does). Otherwise the
 * rows stream through: chunks of consecutive rows are read in a shuffled order each epoch and pass through a
 * shuffle buffer of the budget's size, from which every output row is drawn at random. Either way memory is bounded
 * by the budget. In streaming mode a prefetch thread reads the next chunks while the caller computes; it reads them
 * in the same seeded order and the caller consumes them in that order, so the batches do not depend on timing (an
 * ids-only stream also checks the chunks there; their counts are added when the caller reaches them).
 *
 * <p>Rows with NaN or infinity are skipped and counted, or fatal, per {@link BadRowPolicy}; rows whose L2 norm
 * exceeds {@link Options#maxNorm()} are dropped and counted; kept rows are multiplied by {@link Options#scale()}.
 * Close the stream to stop its prefetch thread.
 *
 * <p>Every batch row is a source row; {@link #next(FloatMatrix, long[])} also reports which. A stream made with
 * {@link #rowIdsOnly} serves only those ids ({@link #nextRowIds}), in exactly the order the ordinary stream with the
 * same arguments serves rows, without holding row data: the device pipeline fetches the rows itself, as stored.
 */
public final class BatchStream implements AutoCloseable {
    /** Rows read per chunk in streaming mode. */
    static final int CHUNK_ROWS = 4096;
    /** Chunk buffers in flight: one consumed, one ready, one being read. */
    private static final int PREFETCH_BUFFERS = 3;

    /**
     * How rows are filtered and scaled.
     *
     * @param bufferBytes memory budget for the loaded rows or the shuffle buffer
     * @param policy      NaN/infinity rows: skip (counted) or fail
     * @param maxNorm     rows with a larger L2 norm are dropped and counted; infinity keeps all
     * @param scale       factor applied to every kept row (1 for none)
     */
    public record Options(long bufferBytes, BadRowPolicy policy, double maxNorm, float scale) {
        public Options {
            if (!(maxNorm > 0)) {
                throw new IllegalArgumentException("maxNorm must be positive, got " + maxNorm);
            }
            if (!(scale > 0) || !Float.isFinite(scale)) {
                throw new IllegalArgumentException("scale must be positive and finite, got " + scale);
            }
        }

        public static Options of(long bufferBytes, BadRowPolicy policy) {
            return new Options(bufferBytes, policy, Double.POSITIVE_INFINITY, 1f);
        }
    }

    private final ActivationSource source;
    private final HeldOutSplit split;
    private final int dIn;
    private final long seed;
    private final BadRowPolicy policy;
    private final double maxNormSq;
    private final float scale;
    private final boolean inMemory;
    /** Serve source row ids only; rows are read to be checked, never kept. */
    private final boolean idsOnly;
    /** Non-finite bit pattern of a 2-byte stored element, when ids-only chunks are checked as stored; else 0. */
    private final int rawNonFinite;
    private long badRows;
    private long normDropped;
    private long rowsServed;
    private int epoch;

    // in-memory mode
    private float[] rows;
    private long[] rowIds;
    private int numRows;
    private int[] perm;
    private int pos;

    // streaming mode
    private float[] buffer;
    private long[] bufferIds;
    private int bufferRows;
    private int bufferCapacity;
    private Chunk current;
    private int chunkPos;
    private int numChunks;
    private SplittableRandom drawRandom;
    private BlockingQueue<Chunk> ready;
    private BlockingQueue<ChunkBuffer> free;
    private Thread prefetch;
    private volatile boolean closed;

    /** Room for one chunk: rows widened to float32, or as stored (ids-only streams), and the kept rows' ids. */
    private static final class ChunkBuffer {
        final float[] data;
        final ByteBuffer raw;
        final long[] ids = new long[CHUNK_ROWS];

        ChunkBuffer(int dIn, int rawBytes) {
            data = rawBytes == 0 ? new float[CHUNK_ROWS * dIn] : null;
            raw = rawBytes == 0 ? null : ByteBuffer.allocate(CHUNK_ROWS * dIn * rawBytes).order(ByteOrder.LITTLE_ENDIAN);
        }
    }

    /** A chunk read by the prefetch thread, or the error it hit. */
    private static final class Chunk {
        final ChunkBuffer buf;
        final long first;
        final int count;
        final int epoch;
        final RuntimeException error;
        int kept;
        /** Ids-only streams check a chunk on the prefetch thread: then kept and these counts are set there. */
        boolean checked;
        long bad;
        long dropped;

        Chunk(ChunkBuffer buf, long first, int count, int epoch, RuntimeException error) {
            this.buf = buf;
            this.first = first;
            this.count = count;
            this.epoch = epoch;
            this.error = error;
        }
    }

    /**
     * @param bufferBytes memory budget for the loaded rows or the shuffle buffer
     */
    public BatchStream(ActivationSource source, HeldOutSplit split, long seed, long bufferBytes, BadRowPolicy policy) {
        this(source, split, seed, Options.of(bufferBytes, policy));
    }

    public BatchStream(ActivationSource source, HeldOutSplit split, long seed, Options options) {
        this(source, split, seed, options, false);
    }

    /**
     * A stream of source row ids only ({@link #nextRowIds}): the same ids, in the same order, as the rows of
     * {@code new BatchStream(source, split, seed, options)}, and the same bad-row and outlier counts, with none of the
     * row data in memory. Rows are still read once per epoch (in-memory mode: once) to apply the checks; sources that
     * read rows as stored in 2-byte elements are checked without widening when no norm limit applies. The scale of
     * the options is not applied: whoever fetches the rows applies it.
     */
    public static BatchStream rowIdsOnly(ActivationSource source, HeldOutSplit split, long seed, Options options) {
        return new BatchStream(source, split, seed, options, true);
    }

    private BatchStream(ActivationSource source, HeldOutSplit split, long seed, Options options, boolean idsOnly) {
        this.source = source;
        this.split = split;
        this.dIn = source.dIn();
        this.seed = seed;
        this.policy = options.policy();
        this.maxNormSq = options.maxNorm() * options.maxNorm();
        this.scale = options.scale();
        this.idsOnly = idsOnly;
        this.rawNonFinite = idsOnly && maxNormSq == Double.POSITIVE_INFINITY && source.rawElementBytes() == 2
                ? rawNonFinitePattern(source.dtype()) : 0;
        long trainBytes = split.trainRows() * dIn * 4L;
        this.inMemory = trainBytes <= options.bufferBytes() && split.trainRows() * dIn < Integer.MAX_VALUE - 8;
        if (inMemory) {
            loadAll();
            if (numRows == 0) {
                throw noUsableRows();
            }
            newEpochPermutation();
        } else {
            bufferCapacity = (int) Math.max(1, Math.min(Integer.MAX_VALUE / dIn - 8, options.bufferBytes() / (dIn * 4L)));
            buffer = idsOnly ? null : new float[bufferCapacity * dIn];
            bufferIds = new long[bufferCapacity];
            drawRandom = new SplittableRandom(seed ^ 0xD1CEL);
            numChunks = (int) ((source.numRows() + CHUNK_ROWS - 1) / CHUNK_ROWS);
            startPrefetch();
            try {
                fillBuffer();
            } catch (RuntimeException e) {
                close();
                throw e;
            }
        }
    }

    /** The exponent bits that make a stored 2-byte element infinite or NaN. */
    private static int rawNonFinitePattern(String dtype) {
        switch (dtype) {
            case "float16":
                return 0x7C00;
            case "bfloat16":
                return 0x7F80;
            default:
                return 0;
        }
    }

    private SaeException noUsableRows() {
        return new SaeException(source.path() + ": no usable training rows (" + badRows + " rows hold NaN or infinity, " + normDropped
                + " exceed the norm limit)");
    }

    /**
     * Default budget: 2^20 rows or 1 GiB, whichever is smaller, and at most a quarter of the JVM's maximum heap so
     * that a small heap streams instead of failing.
     */
    public static long defaultBufferBytes(int dIn) {
        return Math.min(Runtime.getRuntime().maxMemory() / 4, Math.min(1L << 30, (1L << 20) * dIn * 4L));
    }

    public boolean inMemory() {
        return inMemory;
    }

    /** True for a stream made by {@link #rowIdsOnly}. */
    public boolean rowIdsOnly() {
        return idsOnly;
    }

    /** Rows skipped so far for holding NaN or infinity. */
    public long badRows() {
        return badRows;
    }

    /** Rows dropped so far for a norm above the limit. */
    public long normDropped() {
        return normDropped;
    }

    /** Rows handed out in batches so far. */
    public long rowsServed() {
        return rowsServed;
    }

    /** Completed passes over the training rows (in-memory mode) or over the chunks (streaming mode). */
    public int epoch() {
        return epoch;
    }

    private void loadAll() {
        int trainRows = (int) split.trainRows();
        rows = idsOnly ? null : new float[trainRows * dIn];
        rowIds = new long[trainRows];
        int n = 0;
        long total = source.numRows();
        ChunkBuffer tmp = new ChunkBuffer(dIn, rawNonFinite != 0 ? 2 : 0);
        for (long first = 0; first < total; first += CHUNK_ROWS) {
            int count = (int) Math.min(CHUNK_ROWS, total - first);
            read(first, count, tmp);
            long[] tally = new long[2];
            int kept = keep(tmp, first, count, tally);
            badRows += tally[0];
            normDropped += tally[1];
            if (!idsOnly) {
                System.arraycopy(tmp.data, 0, rows, n * dIn, kept * dIn);
            }
            System.arraycopy(tmp.ids, 0, rowIds, n, kept);
            n += kept;
        }
        numRows = n;
    }

    private void read(long first, int count, ChunkBuffer into) {
        if (into.raw != null) {
            source.readRawRows(first, count, into.raw, 0);
        } else {
            source.readRows(first, count, into.data, 0);
        }
    }

    /**
     * Applies the checks to a chunk just read: the kept rows' ids go to c.ids, their data (scaled) to its front; rows
     * skipped as bad and dropped as outliers are added to tally[0] and tally[1].
     */
    private int keep(ChunkBuffer c, long first, int count, long[] tally) {
        return c.raw != null ? keepRaw(c.raw, first, count, c.ids, tally) : keepRows(c.data, first, count, c.ids, tally);
    }

    /** {@link #keepRows} on rows as stored in 2-byte elements (no norm limit): only the finiteness check. */
    private int keepRaw(ByteBuffer raw, long first, int count, long[] ids, long[] tally) {
        int n = 0;
        for (int r = 0; r < count; r++) {
            long row = first + r;
            if (split.isEval(row)) {
                continue;
            }
            if (!rawRowFinite(raw, r * dIn)) {
                if (policy == BadRowPolicy.FAIL) {
                    throw new SaeException(source.path() + ": row " + row + " holds NaN or infinity (--on-bad-rows fail)");
                }
                tally[0]++;
                continue;
            }
            ids[n++] = row;
        }
        return n;
    }

    /**
     * Compacts the training rows of data[0, count) that pass the checks to its front, scaled (unless ids-only), writes
     * their source row ids to ids, and returns how many.
     */
    private int keepRows(float[] data, long first, int count, long[] ids, long[] tally) {
        int n = 0;
        for (int r = 0; r < count; r++) {
            long row = first + r;
            int off = r * dIn;
            if (split.isEval(row) || !checkRow(data, off, row, tally)) {
                continue;
            }
            if (maxNormSq != Double.POSITIVE_INFINITY && NormStats.squaredNorm(data, off, dIn) > maxNormSq) {
                tally[1]++;
                continue;
            }
            ids[n] = row;
            int to = n * dIn;
            if (idsOnly) {
                n++;
                continue;
            }
            if (scale != 1f) {
                for (int i = 0; i < dIn; i++) {
                    data[to + i] = data[off + i] * scale;
                }
            } else if (to != off) {
                System.arraycopy(data, off, data, to, dIn);
            }
            n++;
        }
        return n;
    }

    /**
     * Whether none of the dIn stored 2-byte elements from element {@code first} has all exponent bits set, four at a
     * time: a lane of {@code (v & M) ^ M} is zero exactly when its element is infinite or NaN.
     */
    private boolean rawRowFinite(ByteBuffer raw, int first) {
        long m = rawNonFinite & 0xFFFFL;
        long m4 = m | m << 16 | m << 32 | m << 48;
        int i = first;
        int end = first + dIn;
        for (; i + 4 <= end; i += 4) {
            long t = (raw.getLong(2 * i) & m4) ^ m4;
            if (((t - 0x0001000100010001L) & ~t & 0x8000800080008000L) != 0) {
                return false;
            }
        }
        for (; i < end; i++) {
            if ((raw.getShort(2 * i) & rawNonFinite) == rawNonFinite) {
                return false;
            }
        }
        return true;
    }

    private boolean checkRow(float[] data, int off, long row, long[] tally) {
        if (BadRowPolicy.finiteRow(data, off, dIn)) {
            return true;
        }
        if (policy == BadRowPolicy.FAIL) {
            throw new SaeException(source.path() + ": row " + row + " holds NaN or infinity (--on-bad-rows fail)");
        }
        tally[0]++;
        return false;
    }

    private void newEpochPermutation() {
        SplittableRandom rnd = new SplittableRandom(seed * 0x9E3779B97F4A7C15L + epoch);
        if (perm == null) {
            perm = new int[numRows];
        }
        for (int i = 0; i < numRows; i++) {
            perm[i] = i;
        }
        for (int i = numRows - 1; i > 0; i--) {
            int j = rnd.nextInt(i + 1);
            int t = perm[i];
            perm[i] = perm[j];
            perm[j] = t;
        }
        pos = 0;
    }

    /** Fills every row of {@code batch} with the next training rows. */
    public void next(FloatMatrix batch) {
        next(batch, null);
    }

    /**
     * Fills every row of {@code batch} with the next training rows and, when {@code ids} is not null, writes the
     * source row of each into {@code ids[0 .. batch.rows())}.
     */
    public void next(FloatMatrix batch, long[] ids) {
        if (idsOnly) {
            throw new IllegalStateException("this batch stream serves row ids only (nextRowIds)");
        }
        batch.requireCols(dIn, "batch");
        advance(batch.data(), ids, 0, batch.rows());
    }

    /**
     * Advances by {@code count} rows exactly as {@link #next} would for a batch of that many, writing their source
     * row ids into {@code ids[offset .. offset + count)}.
     */
    public void nextRowIds(long[] ids, int offset, int count) {
        if (offset < 0 || count < 0 || offset + count > ids.length) {
            throw new IllegalArgumentException("ids [" + offset + ", " + (offset + count) + ") outside an array of " + ids.length);
        }
        advance(null, ids, offset, count);
    }

    private void advance(float[] out, long[] ids, int idsOffset, int b) {
        if (inMemory) {
            if (b > numRows) {
                throw new SaeException("batch size " + b + " exceeds the " + numRows + " training rows of " + source.path());
            }
            if (pos + b > numRows) {
                epoch++;
                newEpochPermutation();
            }
            for (int i = 0; i < b; i++) {
                int r = perm[pos + i];
                if (out != null) {
                    System.arraycopy(rows, r * dIn, out, i * dIn, dIn);
                }
                if (ids != null) {
                    ids[idsOffset + i] = rowIds[r];
                }
            }
            pos += b;
        } else {
            if (closed) {
                throw new IllegalStateException("batch stream is closed");
            }
            for (int i = 0; i < b; i++) {
                int slot = drawRandom.nextInt(bufferRows);
                if (out != null) {
                    System.arraycopy(buffer, slot * dIn, out, i * dIn, dIn);
                }
                if (ids != null) {
                    ids[idsOffset + i] = bufferIds[slot];
                }
                nextStreamRow();
                if (buffer != null) {
                    System.arraycopy(current.buf.data, chunkPos * dIn, buffer, slot * dIn, dIn);
                }
                bufferIds[slot] = current.buf.ids[chunkPos];
                chunkPos++;
            }
        }
        rowsServed += b;
    }

    /** The chunk order of an epoch: a seeded permutation of the chunk ids. */
    private int[] chunkOrder(int ep) {
        SplittableRandom rnd = new SplittableRandom(seed * 0x9E3779B97F4A7C15L + ep);
        int[] order = new int[numChunks];
        for (int i = 0; i < order.length; i++) {
            order[i] = i;
        }
        for (int i = order.length - 1; i > 0; i--) {
            int j = rnd.nextInt(i + 1);
            int t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
        return order;
    }

    private void startPrefetch() {
        ready = new ArrayBlockingQueue<>(PREFETCH_BUFFERS);
        free = new ArrayBlockingQueue<>(PREFETCH_BUFFERS);
        for (int i = 0; i < PREFETCH_BUFFERS; i++) {
            free.add(new ChunkBuffer(dIn, rawNonFinite != 0 ? 2 : 0));
        }
        prefetch = new Thread(this::prefetchLoop, "saeforge-prefetch");
        prefetch.setDaemon(true);
        prefetch.start();
    }

    private void prefetchLoop() {
        try {
            for (int ep = 0; !closed; ep++) {
                for (int id : chunkOrder(ep)) {
                    ChunkBuffer buf = free.take();
                    if (closed) {
                        return;
                    }
                    long first = (long) id * CHUNK_ROWS;
                    int count = (int) Math.min(CHUNK_ROWS, source.numRows() - first);
                    Chunk c;
                    try {
                        read(first, count, buf);
                        c = new Chunk(buf, first, count, ep, null);
                        if (idsOnly) {
                            long[] tally = new long[2];
                            c.kept = keep(buf, first, count, tally);
                            c.bad = tally[0];
                            c.dropped = tally[1];
                            c.checked = true;
                        }
                    } catch (RuntimeException e) {
                        ready.put(new Chunk(buf, first, 0, ep, e));
                        return;
                    }
                    ready.put(c);
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (Error e) {
            // Never leave the consumer waiting for a chunk. A fault on a mapped page means the file shrank under us;
            // the JVM may raise it after the read that caused it returned, anywhere in this loop.
            if (!closed) {
                RuntimeException error = e instanceof InternalError
                        ? new FileFormatException(source.path(), "changed while being read (a mapped page faulted: " + e.getMessage() + ")", e)
                        : SaeException.internal("reading activation rows failed: " + e, e);
                if (!ready.offer(new Chunk(null, 0, 0, Integer.MAX_VALUE, error))) {
                    ready.clear();
                    ready.offer(new Chunk(null, 0, 0, Integer.MAX_VALUE, error));
                }
            }
        }
    }

    /** Makes row chunkPos of the current chunk the next usable training row, taking chunks from the prefetch thread as needed. */
    private void nextStreamRow() {
        int emptyChunks = 0;
        while (current == null || chunkPos >= current.kept) {
            takeChunk();
            if (current.kept == 0 && ++emptyChunks > numChunks) {
                throw noUsableRows();
            }
        }
    }

    private void takeChunk() {
        if (current != null) {
            free.add(current.buf);
            current = null;
        }
        Chunk c;
        try {
            c = ready.take();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new SaeException("interrupted while waiting for activation rows");
        }
        if (c.error != null) {
            throw c.error;
        }
        if (c.epoch > epoch) {
            epoch = c.epoch;
        }
        if (c.checked) {
            badRows += c.bad;
            normDropped += c.dropped;
        } else {
            long[] tally = new long[2];
            try {
                c.kept = keep(c.buf, c.first, c.count, tally);
            } finally {
                badRows += tally[0];
                normDropped += tally[1];
            }
        }
        current = c;
        chunkPos = 0;
    }

    private void fillBuffer() {
        bufferRows = 0;
        while (bufferRows < bufferCapacity) {
            nextStreamRow();
            if (buffer != null) {
                System.arraycopy(current.buf.data, chunkPos * dIn, buffer, bufferRows * dIn, dIn);
            }
            bufferIds[bufferRows] = current.buf.ids[chunkPos];
            chunkPos++;
            bufferRows++;
        }
    }

    /** Stops the prefetch thread (streaming mode); the stream cannot be used afterwards. */
    @Override
    public void close() {
        if (prefetch == null || closed) {
            closed = true;
            return;
        }
        closed = true;
        prefetch.interrupt();
        try {
            prefetch.join(10_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
