package org.saeforge.core.kernels.cuda;

import java.util.ArrayList;
import java.util.List;

/**
 * Launch geometry of the kernels in {@code src/main/cuda}: grids, block sizes, shared memory, padding and chunking.
 * Pure arithmetic, unit-tested without a GPU. The constants mirror {@code common.cuh}; {@code LaunchMathTest} parses
 * that header and fails when they drift apart.
 */
public final class LaunchMath {
    /** Leading-dimension granularity (elements) of device matrices with dIn columns. */
    public static final int K_PAD = 32;
    public static final int GEMM_BM = 128;
    public static final int GEMM_BN = 128;
    public static final int GEMM_THREADS = 256;
    public static final int GEMM_STAGE_K_BYTES = 64;
    public static final int GEMM_STAGES = 4;
    /** Stages of the Hopper (wgmma) mainloop of {@code encode_sm90a.fatbin}. */
    public static final int GEMM_WG_STAGES = 5;
    public static final int GEMM_SIMT_BK = 8;
    public static final int EPI_LD = GEMM_BN + 8;
    /** Largest k the fused GEMM + top-k epilogue handles; larger k goes through dense chunks and topk_rows. */
    public static final int TOPK_FUSED_MAX = 64;
    public static final int TOPK_ROWS_THREADS = 512;
    /** Largest k (and kAux) the CUDA top-k supports: the winners are sorted in shared memory. */
    public static final int TOPK_SORT_MAX = 4096;
    public static final int SORT_TILE = 2048;
    public static final int SORT_THREADS = 1024;
    public static final int ROW_THREADS = 256;
    public static final int COLUMN_CHUNK_ROWS = 128;

    /** CUDA's limit on gridDim.y and gridDim.z. */
    public static final int MAX_GRID_Y = 65535;
    /** Shared memory a block may use without opting in. */
    public static final int DEFAULT_SMEM_LIMIT = 48 * 1024;
    /** Budget (floats) of one dense pre-activation chunk on the fallback top-k path: 256 MiB. */
    public static final long DENSE_CHUNK_FLOATS = 1L << 26;

    private LaunchMath() {
    }

    /** The padded leading dimension of a device matrix with {@code cols} columns. */
    public static int paddedLd(int cols) {
        if (cols < 1) {
            throw new IllegalArgumentException("device matrix needs at least one column, got " + cols);
        }
        long ld = ((long) cols + K_PAD - 1) / K_PAD * K_PAD;
        if (ld > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("device matrix with " + cols + " columns is too wide");
        }
        return (int) ld;
    }

    public static int ceilDiv(int a, int b) {
        return (int) (((long) a + b - 1) / b);
    }

    public static long ceilDiv(long a, long b) {
        return (a + b - 1) / b;
    }

    /** The smallest power of two {@code >= n} (n >= 1). */
    public static int nextPow2(int n) {
        if (n < 1 || n > (1 << 30)) {
            throw new IllegalArgumentException("nextPow2 of " + n);
        }
        return n == 1 ? 1 : Integer.highestOneBit(n - 1) << 1;
    }

    /** Shared memory of the 128 x 128 epilogue tile (which also holds every mainloop's operand buffers). */
    public static int epilogueTileBytes() {
        return GEMM_BM * EPI_LD * 4;
    }

    /** Shared memory of the tensor-core mainloop's pipeline. */
    public static int tensorCorePipelineBytes() {
        return (GEMM_BM + GEMM_BN) * GEMM_STAGE_K_BYTES * GEMM_STAGES;
    }

    /** Shared memory of the Hopper (wgmma) mainloop's pipeline. */
    public static int wgmmaPipelineBytes() {
        return (GEMM_BM + GEMM_BN) * GEMM_STAGE_K_BYTES * GEMM_WG_STAGES;
    }

    /**
     * Dynamic shared memory of a {@code gemm_store_*} block: the largest of the epilogue tile and the mainloops'
     * pipelines (they alias), whichever build of the encoder runs.
     */
    public static int gemmStoreSmemBytes() {
        return Math.max(epilogueTileBytes(), Math.max(tensorCorePipelineBytes(), wgmmaPipelineBytes()));
    }

    /** Entries kept per row by the fused epilogue: 32 or 64. */
    public static int topKListCapacity(int k) {
        if (k < 1 || k > TOPK_FUSED_MAX) {
            throw new IllegalArgumentException("fused top-k needs 1 <= k <= " + TOPK_FUSED_MAX + ", got " + k);
        }
        return k <= 32 ? 32 : 64;
    }

    /** Dynamic shared memory of a {@code gemm_topk*} block: the epilogue tile plus the rows' (key, index) lists. */
    public static int gemmTopKSmemBytes(int k) {
        return gemmStoreSmemBytes() + GEMM_BM * topKListCapacity(k) * 8;
    }

    /**
     * Grid {x, 1} of {@code gemm_store_*} for {@code c [rows x cols]}: one block per (row panel, column tile), the
     * row panels of a column tile consecutive.
     */
    public static int[] gemmStoreGrid(int rows, int cols) {
        long blocks = (long) ceilDiv(requirePositive(rows, "rows"), GEMM_BM) * ceilDiv(requirePositive(cols, "cols"), GEMM_BN);
        if (blocks > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("gemmStore of " + rows + " x " + cols + " needs " + blocks + " blocks, more than a grid holds");
        }
        return new int[] {(int) blocks, 1};
    }

    /**
     * How the fused GEMM + top-k splits the columns: block (panel, chunk) covers {@code tilesPerChunk} column tiles
     * of 128 and writes k candidates per row, so every row gets {@code chunks * k} candidates for the merge.
     */
    public record TopKPlan(int rows, int cols, int k, int panels, int columnTiles, int tilesPerChunk, int chunks,
                           int listCapacity, int smemBytes) {
        /** Candidates per row (the row length of the merge). */
        public int candidatesPerRow() {
            return chunks * k;
        }

        /** Column range [first, last) of chunk c. */
        public int[] chunkColumns(int c) {
            int first = c * tilesPerChunk * GEMM_BN;
            int last = Math.min(cols, (c + 1) * tilesPerChunk * GEMM_BN);
            return new int[] {first, last};
        }
    }

    /**
     * As few chunks as fill one wave of {@code blocksPerSm * smCount} blocks (at least one, at most one per column
     * tile): each chunk starts its rows' lists empty, so more chunks mean more insertions into them and a longer
     * merge, and a partial last wave idles SMs. On an H100 at 8192 x 1024 x 65536, k 32: 4 chunks (256 blocks) take
     * 3.5 ms, 17 chunks (4.1 waves) 5.2 ms, 32 chunks 6.4 ms (benchmarks/gpu/wgmma_tune.cu).
     */
    public static TopKPlan planTopK(int rows, int cols, int k, int smCount, int blocksPerSm) {
        requirePositive(rows, "rows");
        requirePositive(cols, "cols");
        if (k > cols) {
            throw new IllegalArgumentException("top-k with k=" + k + " over " + cols + " columns");
        }
        int capacity = topKListCapacity(k);
        int panels = ceilDiv(rows, GEMM_BM);
        int tiles = ceilDiv(cols, GEMM_BN);
        long slots = (long) Math.max(1, smCount) * Math.max(1, blocksPerSm);
        int wantedChunks = (int) Math.max(1, Math.min(Math.min(tiles, MAX_GRID_Y), slots / panels));
        int tilesPerChunk = ceilDiv(tiles, wantedChunks);
        int chunks = ceilDiv(tiles, tilesPerChunk);
        return new TopKPlan(rows, cols, k, panels, tiles, tilesPerChunk, chunks, capacity, gemmTopKSmemBytes(k));
    }

    /** Size of the shared-memory sort of the k winners in {@code topk_rows_*}: the power of two >= k. */
    public static int topKSortSize(int k) {
        if (k < 1 || k > TOPK_SORT_MAX) {
            throw new IllegalArgumentException("CUDA top-k supports 1 <= k <= " + TOPK_SORT_MAX + ", got k=" + k);
        }
        return nextPow2(k);
    }

    /** Dynamic shared memory of {@code topk_rows_*}. */
    public static int topKRowsSmemBytes(int k) {
        return topKSortSize(k) * 8;
    }

    /** Rows per dense pre-activation chunk of {@code cols} columns on the fallback top-k path. */
    public static int denseChunkRows(int rows, int cols) {
        long fit = Math.max(1, DENSE_CHUNK_FLOATS / Math.max(1, cols));
        return (int) Math.min(Math.min(rows, fit), (long) MAX_GRID_Y * GEMM_BM);
    }

    /**
     * Grid of a grid-stride element-wise kernel over n elements with {@link #ROW_THREADS} threads: enough blocks to
     * fill the device, no more than the elements need. Reductions rely on it depending only on n and smCount.
     */
    public static int elementwiseGrid(long n, int smCount) {
        long needed = Math.max(1, ceilDiv(n, ROW_THREADS));
        return (int) Math.min(needed, (long) Math.max(1, smCount) * 8);
    }

    /** Threads of a row kernel that gives each thread 16 bytes of a row of ld floats. */
    public static int vectorRowThreads(int ld) {
        int vectors = ld / 4;
        return Math.min(ROW_THREADS, Math.max(32, ceilDiv(vectors, 32) * 32));
    }

    /** Threads of a row kernel that gives each thread 4 bytes of a row of ld floats. */
    public static int scalarRowThreads(int ld) {
        return Math.min(ROW_THREADS, Math.max(32, ceilDiv(ld, 32) * 32));
    }

    /** Blocks of {@code gather_dots} (one warp per entry, {@link #ROW_THREADS} threads per block). */
    public static int gatherDotsGrid(int nnz) {
        return ceilDiv(requirePositive(nnz, "nnz"), ROW_THREADS / 32);
    }

    /** Grid {x, y} of {@code column_moments} over {@code rows x ld}. */
    public static int[] columnMomentsGrid(int rows, int ld) {
        int chunks = ceilDiv(requirePositive(rows, "rows"), COLUMN_CHUNK_ROWS);
        requireGridY(chunks, rows);
        return new int[] {ceilDiv(ld, ROW_THREADS), chunks};
    }

    /** Threads of the one-block {@code dead_update} kernel. */
    public static final int DEAD_UPDATE_THREADS = 1024;

    /**
     * Rows of w per chunk of {@code row_combination_partial} over {@code n x ld}: enough chunks that the grid has about
     * 8 blocks per multiprocessor, no chunk smaller than 64 rows.
     */
    public static int rowCombinationRowsPerChunk(int n, int ld, int smCount) {
        requirePositive(n, "rows");
        int columnBlocks = ceilDiv(requirePositive(ld, "ld"), ROW_THREADS);
        long wantedChunks = Math.max(1, (long) Math.max(1, smCount) * 8 / columnBlocks);
        int perChunk = (int) Math.max(64, ceilDiv((long) n, wantedChunks));
        int chunks = ceilDiv(n, perChunk);
        requireGridY(chunks, n);
        return perChunk;
    }

    /** One launch of the bitonic sort of the latent keys. */
    public record SortStep(Kind kind, int size, int stride) {
        /** Which kernel: {@code bitonic_sort_tiles}, {@code bitonic_merge_global} or {@code bitonic_merge_tiles}. */
        public enum Kind { SORT_TILES, MERGE_GLOBAL, MERGE_TILES }
    }

    /** Keys sorted for nnz entries: the power of two >= nnz (padding sorts last). */
    public static int sortLength(int nnz) {
        if (nnz > (1 << 30)) {
            throw new IllegalArgumentException("cannot group " + nnz + " code entries by latent (limit 2^30)");
        }
        return nextPow2(Math.max(1, nnz));
    }

    /** Tile of the shared-memory sort phases for n keys. */
    public static int sortTile(int n) {
        return Math.min(n, SORT_TILE);
    }

    /** The launches that sort n keys (n a power of two): tiles, then per larger size the global and tile merges. */
    public static List<SortStep> sortSchedule(int n) {
        if (n < 1 || Integer.bitCount(n) != 1) {
            throw new IllegalArgumentException("bitonic sort length must be a power of two, got " + n);
        }
        int tile = sortTile(n);
        List<SortStep> steps = new ArrayList<>();
        steps.add(new SortStep(SortStep.Kind.SORT_TILES, tile, 0));
        for (long size = 2L * tile; size <= n; size <<= 1) {
            for (long stride = size >> 1; stride >= tile; stride >>= 1) {
                steps.add(new SortStep(SortStep.Kind.MERGE_GLOBAL, (int) size, (int) stride));
            }
            steps.add(new SortStep(SortStep.Kind.MERGE_TILES, (int) size, 0));
        }
        return steps;
    }

    private static int requirePositive(int v, String what) {
        if (v < 1) {
            throw new IllegalArgumentException(what + " must be positive, got " + v);
        }
        return v;
    }

    private static void requireGridY(int blocks, int rows) {
        if (blocks > MAX_GRID_Y) {
            throw new IllegalArgumentException(rows + " rows need " + blocks + " row blocks, more than CUDA's " + MAX_GRID_Y);
        }
    }
}
