package org.saeforge.core.data;

import java.util.SplittableRandom;
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
 * by the budget. Rows with NaN or infinity are skipped and counted, or fatal, per {@link BadRowPolicy}.
 */
public final class BatchStream {
    /** Rows read per chunk in streaming mode. */
    static final int CHUNK_ROWS = 4096;

    private final ActivationSource source;
    private final HeldOutSplit split;
    private final int dIn;
    private final long seed;
    private final BadRowPolicy policy;
    private final boolean inMemory;
    private long badRows;
    private long rowsServed;
    private int epoch;

    // in-memory mode
    private float[] rows;
    private int numRows;
    private int[] perm;
    private int pos;

    // streaming mode
    private float[] buffer;
    private int bufferRows;
    private int bufferCapacity;
    private float[] chunk;
    private int chunkRows;
    private int chunkPos;
    private long[] chunkOrder;
    private int chunkOrderPos;
    private SplittableRandom drawRandom;

    /**
     * @param bufferBytes memory budget for the loaded rows or the shuffle buffer
     */
    public BatchStream(ActivationSource source, HeldOutSplit split, long seed, long bufferBytes, BadRowPolicy policy) {
        this.source = source;
        this.split = split;
        this.dIn = source.dIn();
        this.seed = seed;
        this.policy = policy;
        long trainBytes = split.trainRows() * dIn * 4L;
        this.inMemory = trainBytes <= bufferBytes && split.trainRows() * dIn < Integer.MAX_VALUE - 8;
        if (inMemory) {
            loadAll();
            if (numRows == 0) {
                throw new SaeException(source.path() + ": no usable training rows (" + badRows + " rows hold NaN or infinity)");
            }
            newEpochPermutation();
        } else {
            bufferCapacity = (int) Math.max(1, Math.min(Integer.MAX_VALUE / dIn - 8, bufferBytes / (dIn * 4L)));
            buffer = new float[bufferCapacity * dIn];
            chunk = new float[CHUNK_ROWS * dIn];
            drawRandom = new SplittableRandom(seed ^ 0xD1CEL);
            newChunkOrder();
            fillBuffer();
        }
    }

    /** Default budget: 2^20 rows or 1 GiB, whichever is smaller. */
    public static long defaultBufferBytes(int dIn) {
        return Math.min(1L << 30, (1L << 20) * dIn * 4L);
    }

    public boolean inMemory() {
        return inMemory;
    }

    /** Rows skipped so far for holding NaN or infinity. */
    public long badRows() {
        return badRows;
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
        rows = new float[(int) (split.trainRows() * dIn)];
        int n = 0;
        long total = source.numRows();
        float[] tmp = new float[CHUNK_ROWS * dIn];
        for (long first = 0; first < total; first += CHUNK_ROWS) {
            int count = (int) Math.min(CHUNK_ROWS, total - first);
            source.readRows(first, count, tmp, 0);
            for (int r = 0; r < count; r++) {
                long row = first + r;
                if (split.isEval(row)) {
                    continue;
                }
                if (!checkRow(tmp, r * dIn, row)) {
                    continue;
                }
                System.arraycopy(tmp, r * dIn, rows, n * dIn, dIn);
                n++;
            }
        }
        numRows = n;
    }

    private boolean checkRow(float[] data, int off, long row) {
        if (BadRowPolicy.finiteRow(data, off, dIn)) {
            return true;
        }
        if (policy == BadRowPolicy.FAIL) {
            throw new SaeException(source.path() + ": row " + row + " holds NaN or infinity (--on-bad-rows fail)");
        }
        badRows++;
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
        batch.requireCols(dIn, "batch");
        int b = batch.rows();
        float[] out = batch.data();
        if (inMemory) {
            if (b > numRows) {
                throw new SaeException("batch size " + b + " exceeds the " + numRows + " training rows of " + source.path());
            }
            if (pos + b > numRows) {
                epoch++;
                newEpochPermutation();
            }
            for (int i = 0; i < b; i++) {
                System.arraycopy(rows, perm[pos + i] * dIn, out, i * dIn, dIn);
            }
            pos += b;
        } else {
            for (int i = 0; i < b; i++) {
                int slot = drawRandom.nextInt(bufferRows);
                System.arraycopy(buffer, slot * dIn, out, i * dIn, dIn);
                float[] src = nextStreamRow();
                System.arraycopy(src, chunkPos * dIn, buffer, slot * dIn, dIn);
                chunkPos++;
            }
        }
        rowsServed += b;
    }

    private void newChunkOrder() {
        long numChunks = (source.numRows() + CHUNK_ROWS - 1) / CHUNK_ROWS;
        SplittableRandom rnd = new SplittableRandom(seed * 0x9E3779B97F4A7C15L + epoch);
        chunkOrder = new long[(int) numChunks];
        for (int i = 0; i < chunkOrder.length; i++) {
            chunkOrder[i] = i;
        }
        for (int i = chunkOrder.length - 1; i > 0; i--) {
            int j = rnd.nextInt(i + 1);
            long t = chunkOrder[i];
            chunkOrder[i] = chunkOrder[j];
            chunkOrder[j] = t;
        }
        chunkOrderPos = 0;
    }

    /** Makes chunk[chunkPos] the next usable training row, reading chunks as needed; returns the chunk array. */
    private float[] nextStreamRow() {
        int emptyChunks = 0;
        while (chunkPos >= chunkRows) {
            readNextChunk();
            if (chunkRows == 0 && ++emptyChunks > chunkOrder.length) {
                throw new SaeException(source.path() + ": no usable training rows (" + badRows + " rows hold NaN or infinity)");
            }
        }
        return chunk;
    }

    private void readNextChunk() {
        if (chunkOrderPos == chunkOrder.length) {
            epoch++;
            newChunkOrder();
        }
        long first = chunkOrder[chunkOrderPos++] * CHUNK_ROWS;
        int count = (int) Math.min(CHUNK_ROWS, source.numRows() - first);
        float[] tmp = chunk;
        source.readRows(first, count, tmp, 0);
        int n = 0;
        for (int r = 0; r < count; r++) {
            long row = first + r;
            if (split.isEval(row) || !checkRow(tmp, r * dIn, row)) {
                continue;
            }
            if (n != r) {
                System.arraycopy(tmp, r * dIn, tmp, n * dIn, dIn);
            }
            n++;
        }
        chunkRows = n;
        chunkPos = 0;
    }

    private void fillBuffer() {
        bufferRows = 0;
        while (bufferRows < bufferCapacity) {
            float[] src = nextStreamRow();
            System.arraycopy(src, chunkPos * dIn, buffer, bufferRows * dIn, dIn);
            chunkPos++;
            bufferRows++;
        }
    }
}
