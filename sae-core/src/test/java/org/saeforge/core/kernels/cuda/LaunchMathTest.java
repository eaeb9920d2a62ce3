package org.saeforge.core.kernels.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.saeforge.core.kernels.cuda.LaunchMath.SortStep;
import org.saeforge.core.kernels.cuda.LaunchMath.TopKPlan;

/** Launch geometry without a GPU: constants in sync with common.cuh, plans, limits, and the sort schedule. */
class LaunchMathTest {

    @Test
    void constantsMatchTheCudaHeader() throws IOException {
        String header = Files.readString(SourceFiles.cudaSources().resolve("common.cuh"), StandardCharsets.UTF_8);
        Matcher m = Pattern.compile("constexpr int (\\w+) = ([^;]+);").matcher(header);
        Map<String, Integer> values = new HashMap<>();
        while (m.find()) {
            String expr = m.group(2).strip();
            Matcher sum = Pattern.compile("(\\w+) \\+ (\\d+)").matcher(expr);
            values.put(m.group(1), sum.matches() ? values.get(sum.group(1)) + Integer.parseInt(sum.group(2))
                    : Integer.parseInt(expr));
        }
        Map<String, Integer> java = Map.ofEntries(
                Map.entry("K_PAD", LaunchMath.K_PAD), Map.entry("GEMM_BM", LaunchMath.GEMM_BM),
                Map.entry("GEMM_BN", LaunchMath.GEMM_BN), Map.entry("GEMM_THREADS", LaunchMath.GEMM_THREADS),
                Map.entry("GEMM_STAGE_K_BYTES", LaunchMath.GEMM_STAGE_K_BYTES),
                Map.entry("GEMM_STAGES", LaunchMath.GEMM_STAGES), Map.entry("GEMM_WG_STAGES", LaunchMath.GEMM_WG_STAGES), Map.entry("GEMM_SIMT_BK", LaunchMath.GEMM_SIMT_BK),
                Map.entry("EPI_LD", LaunchMath.EPI_LD), Map.entry("TOPK_FUSED_MAX", LaunchMath.TOPK_FUSED_MAX),
                Map.entry("TOPK_ROWS_THREADS", LaunchMath.TOPK_ROWS_THREADS),
                Map.entry("TOPK_SORT_MAX", LaunchMath.TOPK_SORT_MAX), Map.entry("SORT_TILE", LaunchMath.SORT_TILE),
                Map.entry("SORT_THREADS", LaunchMath.SORT_THREADS), Map.entry("ROW_THREADS", LaunchMath.ROW_THREADS),
                Map.entry("COLUMN_CHUNK_ROWS", LaunchMath.COLUMN_CHUNK_ROWS));
        assertEquals(java.keySet(), values.keySet(), "constants declared in common.cuh vs LaunchMath");
        java.forEach((k, v) -> assertEquals(v, values.get(k), "common.cuh " + k));
    }

    @Test
    void paddingRoundsUpToWholeTiles() {
        assertEquals(32, LaunchMath.paddedLd(1));
        assertEquals(32, LaunchMath.paddedLd(32));
        assertEquals(64, LaunchMath.paddedLd(33));
        assertEquals(1024, LaunchMath.paddedLd(1024));
        assertEquals(1056, LaunchMath.paddedLd(1025));
        assertThrows(IllegalArgumentException.class, () -> LaunchMath.paddedLd(0));
    }

    @Test
    void sharedMemoryFitsAmpereAndHopper() {
        int ampereOptIn = 163 * 1024;
        assertEquals(128 * 136 * 4, LaunchMath.epilogueTileBytes());
        assertTrue(LaunchMath.tensorCorePipelineBytes() <= LaunchMath.epilogueTileBytes(), "pipeline aliases the tile");
        // the wgmma pipeline (5 stages of 16 KiB) is the largest; the epilogue tile aliases it
        assertEquals(5 * 16_384, LaunchMath.wgmmaPipelineBytes());
        assertEquals(81_920, LaunchMath.gemmStoreSmemBytes());
        assertEquals(81_920 + 128 * 32 * 8, LaunchMath.gemmTopKSmemBytes(1));
        assertEquals(81_920 + 128 * 32 * 8, LaunchMath.gemmTopKSmemBytes(32));
        assertEquals(81_920 + 128 * 64 * 8, LaunchMath.gemmTopKSmemBytes(33));
        assertTrue(LaunchMath.gemmTopKSmemBytes(64) <= ampereOptIn);
        // Two k <= 32 blocks fit one Hopper SM (228 KiB, 1 KiB reserved per block).
        assertTrue(2 * (LaunchMath.gemmTopKSmemBytes(32) + 1024) <= 228 * 1024);
        assertThrows(IllegalArgumentException.class, () -> LaunchMath.gemmTopKSmemBytes(65));
        assertEquals(4096 * 8, LaunchMath.topKRowsSmemBytes(4096));
        assertEquals(8, LaunchMath.topKRowsSmemBytes(1));
        assertEquals(64 * 8, LaunchMath.topKRowsSmemBytes(33));
        assertThrows(IllegalArgumentException.class, () -> LaunchMath.topKRowsSmemBytes(4097));
    }

    @Test
    void topKPlanOfTheBenchmarkShapeCoversEveryColumnOnce() {
        // H100: 132 SMs, two k=32 blocks per SM.
        TopKPlan plan = LaunchMath.planTopK(8192, 65_536, 32, 132, 2);
        assertEquals(64, plan.panels());
        assertEquals(512, plan.columnTiles());
        assertEquals(4, plan.chunks(), "as few chunks as fill one wave");
        assertTrue(plan.chunks() * plan.panels() <= 132 * 2, "one wave");
        assertEquals(2, LaunchMath.planTopK(8192, 65_536, 64, 132, 1).chunks(), "k 64: one block per SM");
        assertEquals(256, LaunchMath.planTopK(1, 65_536, 32, 132, 2).chunks(), "one row: a wave of 2-tile chunks");
        assertEquals(1, LaunchMath.planTopK(65_536, 65_536, 32, 132, 2).chunks(), "more panels than a wave holds");
        assertCovers(plan);
        assertEquals(plan.chunks() * 32, plan.candidatesPerRow());
        // The candidates are far smaller than the dense [batch x numLatents] matrix.
        assertTrue((long) plan.rows() * plan.candidatesPerRow() * 8 < (long) 8192 * 65_536 * 4 / 50);
    }

    @Test
    void topKPlanOfAwkwardShapes() {
        for (int[] s : new int[][] {{1, 1, 1}, {1, 129, 64}, {7, 301, 32}, {130, 1000, 33}, {257, 4096, 64},
                {65_535 * 128, 128, 1}}) {
            TopKPlan plan = LaunchMath.planTopK(s[0], s[1], s[2], 108, 1);
            assertCovers(plan);
            assertTrue(plan.tilesPerChunk() >= 1 && plan.chunks() >= 1);
            assertEquals(LaunchMath.ceilDiv(s[0], 128), plan.panels());
        }
        // row panels run along the grid's x (no 65,535 limit); chunks along y stay under it
        assertEquals(65_536, LaunchMath.planTopK(65_535 * 128 + 1, 128, 1, 132, 2).panels());
        assertThrows(IllegalArgumentException.class, () -> LaunchMath.planTopK(10, 20, 21, 132, 2));
        assertThrows(IllegalArgumentException.class, () -> LaunchMath.planTopK(0, 20, 1, 132, 2));
    }

    private static void assertCovers(TopKPlan plan) {
        int next = 0;
        for (int c = 0; c < plan.chunks(); c++) {
            int[] cols = plan.chunkColumns(c);
            assertEquals(next, cols[0], "chunk " + c + " starts where the last ended");
            assertTrue(cols[1] > cols[0], "chunk " + c + " is not empty");
            next = cols[1];
        }
        assertEquals(plan.cols(), next, "chunks end at the last column");
    }

    @Test
    void gridsAndBlocks() {
        assertArrayEquals(new int[] {512 * 64, 1}, LaunchMath.gemmStoreGrid(8192, 65_536));
        assertArrayEquals(new int[] {1, 1}, LaunchMath.gemmStoreGrid(1, 1));
        assertArrayEquals(new int[] {3 * 2, 1}, LaunchMath.gemmStoreGrid(129, 257));
        assertEquals(1, LaunchMath.elementwiseGrid(1, 132));
        assertEquals(4, LaunchMath.elementwiseGrid(1000, 132));
        assertEquals(132 * 8, LaunchMath.elementwiseGrid(1L << 30, 132));
        assertEquals(32, LaunchMath.vectorRowThreads(32));
        assertEquals(256, LaunchMath.vectorRowThreads(1024));
        assertEquals(256, LaunchMath.vectorRowThreads(4096));
        assertEquals(64, LaunchMath.scalarRowThreads(37));
        assertEquals(256, LaunchMath.scalarRowThreads(1024));
        assertEquals(2, LaunchMath.gatherDotsGrid(9));
        assertArrayEquals(new int[] {5, 64}, LaunchMath.columnMomentsGrid(8192, 1056));
        assertEquals(1024, LaunchMath.denseChunkRows(8192, 65_536));
        assertEquals(3, LaunchMath.denseChunkRows(3, 65_536));
        assertEquals(1, LaunchMath.denseChunkRows(5, Integer.MAX_VALUE));
    }

    @Test
    void nextPow2() {
        assertEquals(1, LaunchMath.nextPow2(1));
        assertEquals(2, LaunchMath.nextPow2(2));
        assertEquals(4, LaunchMath.nextPow2(3));
        assertEquals(4096, LaunchMath.nextPow2(4096));
        assertEquals(8192, LaunchMath.nextPow2(4097));
        assertThrows(IllegalArgumentException.class, () -> LaunchMath.nextPow2(0));
    }

    /**
     * The kernels' compare-exchange index arithmetic, run on the host over the Java schedule: the schedule must sort
     * any input, for lengths below, at and above the shared-memory tile.
     */
    @Test
    void bitonicScheduleSortsAnyInput() {
        SplittableRandom rnd = new SplittableRandom(7);
        for (int nnz : new int[] {1, 2, 3, 31, 2048, 2049, 5000, 1 << 14}) {
            int n = LaunchMath.sortLength(nnz);
            long[] keys = new long[n];
            for (int p = 0; p < n; p++) {
                keys[p] = p < nnz ? ((long) rnd.nextInt(97) << 32) | p : -1L;
            }
            List<SortStep> schedule = LaunchMath.sortSchedule(n);
            emulate(keys, schedule, LaunchMath.sortTile(n));
            for (int p = 1; p < n; p++) {
                assertTrue(Long.compareUnsigned(keys[p - 1], keys[p]) <= 0, "n=" + n + " sorted at " + p);
            }
        }
        assertThrows(IllegalArgumentException.class, () -> LaunchMath.sortSchedule(6));
    }

    private static void emulate(long[] keys, List<SortStep> schedule, int tile) {
        int n = keys.length;
        for (SortStep step : schedule) {
            switch (step.kind()) {
                case SORT_TILES:
                    for (int base = 0; base < n; base += tile) {
                        for (int size = 2; size <= tile; size <<= 1) {
                            int s = size;
                            for (int stride = size >> 1; stride > 0; stride >>= 1) {
                                pass(keys, base, tile, stride, i -> (i & s) == 0);
                            }
                        }
                    }
                    break;
                case MERGE_GLOBAL:
                    pass(keys, 0, n, step.stride(), i -> (i & step.size()) == 0);
                    break;
                case MERGE_TILES:
                    for (int base = 0; base < n; base += tile) {
                        boolean asc = (base & step.size()) == 0;
                        for (int stride = tile >> 1; stride > 0; stride >>= 1) {
                            pass(keys, base, tile, stride, i -> asc);
                        }
                    }
                    break;
                default:
                    throw new IllegalStateException();
            }
        }
    }

    /** One compare-exchange pass with the kernels' formula i = 2t - (t & (stride - 1)), j = i + stride. */
    private static void pass(long[] keys, int base, int len, int stride, java.util.function.IntPredicate ascending) {
        for (int t = 0; t < len / 2; t++) {
            int i = base + 2 * t - (t & (stride - 1));
            int j = i + stride;
            boolean asc = ascending.test(i);
            if ((Long.compareUnsigned(keys[i], keys[j]) > 0) == asc) {
                long x = keys[i];
                keys[i] = keys[j];
                keys[j] = x;
            }
        }
    }

    @Test
    void rowCombinationChunksCoverEveryRowWithinTheGrid() {
        for (int n : new int[] {1, 63, 64, 65, 1000, 65_536, 1 << 22, 1 << 26}) {
            for (int ld : new int[] {32, 1024, 4096}) {
                int per = LaunchMath.rowCombinationRowsPerChunk(n, ld, 132);
                int chunks = LaunchMath.ceilDiv(n, per);
                assertTrue(per >= 64 || per >= n, "chunks of at least 64 rows: n=" + n + ", per=" + per);
                assertTrue((long) chunks * per >= n && (long) (chunks - 1) * per < n, "chunks cover n=" + n + " exactly once");
                assertTrue(chunks <= LaunchMath.MAX_GRID_Y, "grid y " + chunks + " for n=" + n);
            }
        }
        assertEquals(249, LaunchMath.rowCombinationRowsPerChunk(65_536, 1024, 132), "264 chunks: 8 blocks per SM over 4 column blocks");
    }
}
