package org.saeforge.core.data;

import java.util.Arrays;
import java.util.HashSet;
import java.util.Set;
import java.util.SplittableRandom;
import org.saeforge.core.SaeException;

/**
 * A seeded train / held-out split of a source's rows. Held-out rows come in aligned blocks of {@link #blockSize()}
 * consecutive rows chosen at random: block reads stay cheap for chunked or compressed formats, and neighbouring rows
 * (patches of one image, tokens of one caption) tend to land on the same side of the split.
 */
public final class HeldOutSplit {
    private final long numRows;
    private final int blockSize;
    private final long[] blocks;
    private final long evalRows;
    private final long requested;

    private HeldOutSplit(long numRows, int blockSize, long[] blocks, long requested) {
        this.numRows = numRows;
        this.requested = requested;
        this.blockSize = blockSize;
        this.blocks = blocks;
        long n = 0;
        for (long b : blocks) {
            n += Math.min(blockSize, numRows - b * blockSize);
        }
        this.evalRows = n;
    }

    /**
     * The default held-out size: 5% of the rows up to 10,000 (the PyTorch peer holds out 5%), or 1% when that is more, at
     * most 50,000; at least 1. Below 10,000 held-out rows the held-out dead count also counts rare latents: one that
     * fires once in 3,000 rows is silent on 2,000 rows (1% of 200,000) half the time, and on 10,000 rows 4% of the time.
     */
    public static long defaultEvalRows(long numRows) {
        long small = Math.min(10_000, numRows / 20);
        long large = Math.min(50_000, numRows / 100);
        return Math.max(1, Math.max(small, large));
    }

    /**
     * The default held-out size before 2026-11-28, 1% of the rows (at least 1, at most 50,000): a checkpoint that does
     * not record its held-out size was taken by a run that held out this many when {@code --eval-rows} was left out.
     */
    public static long legacyDefaultEvalRows(long numRows) {
        return Math.max(1, Math.min(50_000, numRows / 100));
    }

    /** Holds out about {@code evalRows} rows (rounded up to whole blocks) chosen with {@code seed}. */
    public static HeldOutSplit create(long numRows, long evalRows, long seed) {
        if (evalRows < 0) {
            throw new SaeException("--eval-rows must be >= 0, got " + evalRows);
        }
        if (evalRows >= numRows) {
            throw new SaeException("--eval-rows " + evalRows + " leaves no training rows (the data has " + numRows + " rows)");
        }
        if (evalRows == 0) {
            return new HeldOutSplit(numRows, 1, new long[0], 0);
        }
        int blockSize = (int) Math.max(1, Math.min(64, evalRows / 64));
        long numBlocks = (numRows + blockSize - 1) / blockSize;
        int want = (int) Math.min(numBlocks - 1, (evalRows + blockSize - 1) / blockSize);
        // Floyd's algorithm: `want` distinct block ids out of numBlocks, in O(want).
        SplittableRandom rnd = new SplittableRandom(seed ^ 0x5EED_5EEDL);
        Set<Long> chosen = new HashSet<>();
        for (long j = numBlocks - want; j < numBlocks; j++) {
            long t = rnd.nextLong(j + 1);
            chosen.add(chosen.contains(t) ? j : t);
        }
        long[] blocks = chosen.stream().mapToLong(Long::longValue).sorted().toArray();
        return new HeldOutSplit(numRows, blockSize, blocks, evalRows);
    }

    public long numRows() {
        return numRows;
    }

    public int blockSize() {
        return blockSize;
    }

    /** The held-out rows, whole blocks. */
    public long evalRows() {
        return evalRows;
    }

    /** The held-out size asked for ({@link #create}'s {@code evalRows}): with the seed it gives this split again. */
    public long requestedRows() {
        return requested;
    }

    public long trainRows() {
        return numRows - evalRows;
    }

    public boolean isEval(long row) {
        return Arrays.binarySearch(blocks, row / blockSize) >= 0;
    }

    /** Number of held-out blocks. */
    public int numBlocks() {
        return blocks.length;
    }

    /** First row of held-out block i. */
    public long blockStart(int i) {
        return blocks[i] * blockSize;
    }

    /** Rows in held-out block i (the last block of the data may be short). */
    public int blockRows(int i) {
        return (int) Math.min(blockSize, numRows - blocks[i] * blockSize);
    }
}
