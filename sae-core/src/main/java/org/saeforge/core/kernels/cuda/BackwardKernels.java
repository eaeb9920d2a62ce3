package org.saeforge.core.kernels.cuda;

import static org.saeforge.core.kernels.cuda.LaunchMath.ROW_THREADS;

import org.saeforge.core.kernels.cuda.CudaContext.KernelFunction;

/**
 * The sparse backward of {@code backward.cu} on device buffers: gradients at the active latents ({@link #gatherDots})
 * and the deterministic accumulation into whole latent rows ({@link #groupByLatent} then {@link #scatterOuter}).
 * Rows are padded to ld floats. Latent ids must be below numLatents (the caller validates them).
 */
public final class BackwardKernels {
    private static final String FAMILY = "backward";

    private final CudaContext ctx;

    public BackwardKernels(CudaContext ctx) {
        this.ctx = ctx;
    }

    /** Code entries grouped by latent: latent j's entries are {@code keys[segStart[j] .. segEnd[j])}, by row. */
    public record LatentGroups(DeviceBuffer keys, DeviceBuffer segStart, DeviceBuffer segEnd, int nnz, int numLatents) {
    }

    /** {@code entryRow[p] = r} for every entry p of row r of CSR codes. */
    public void entryRows(DeviceBuffer indptr, int rows, DeviceBuffer entryRow, int nnz) {
        indptr.require(4L * (rows + 1), "entryRows indptr [" + (rows + 1) + "]");
        entryRow.require(4L * nnz, "entryRows output [" + nnz + "]");
        if (rows == 0 || nnz == 0) {
            return;
        }
        ctx.launch(fn("entry_rows"), LaunchMath.elementwiseGrid(rows, ctx.multiprocessors()), 1, ROW_THREADS, 0,
                KernelArgs.of().ptr(indptr).i(rows).ptr(entryRow));
    }

    /**
     * {@code dValues[p] = dOut[row(p)] · w[idx[p]]}: {@code dOut [rows x ld]}, {@code w [numLatents x ld]}; row(p) is
     * {@code entryRow[p]}, or {@code p / kFixed} when entryRow is null.
     */
    public void gatherDots(DeviceBuffer entryRow, int kFixed, DeviceBuffer idx, int nnz, DeviceBuffer dOut, int rows,
                           DeviceBuffer w, int numLatents, int ld, DeviceBuffer dValues) {
        requireRows(entryRow, kFixed, idx, nnz, rows, ld);
        dOut.require(4L * rows * ld, "gatherDots dOut [" + rows + " x " + ld + "]");
        w.require(4L * numLatents * ld, "gatherDots weights [" + numLatents + " x " + ld + "]");
        dValues.require(4L * nnz, "gatherDots output [" + nnz + "]");
        if (nnz == 0) {
            return;
        }
        ctx.launch(fn("gather_dots"), LaunchMath.gatherDotsGrid(nnz), 1, ROW_THREADS, 0,
                KernelArgs.of().ptr(entryRow).i(kFixed).ptr(idx).i(nnz).ptr(dOut).ptr(w).i(ld).ptr(dValues));
    }

    /** Scratch bytes of {@link #groupByLatent} for up to nnz entries over numLatents latents. */
    public static long groupScratchBytes(int nnz, int numLatents) {
        return 8L * LaunchMath.sortLength(nnz) + 8L * numLatents;
    }

    /** Allocates the scratch of {@link #groupByLatent} for up to nnz entries, so that no call grows it. */
    public void reserveGroups(int nnz, int numLatents, Workspace ws) {
        ws.get("groups.keys", 8L * LaunchMath.sortLength(nnz));
        ws.get("groups.segStart", 4L * numLatents);
        ws.get("groups.segEnd", 4L * numLatents);
    }

    /** Sorts the entries by (latent, entry) and finds each latent's segment, in buffers of {@code ws}. */
    public LatentGroups groupByLatent(DeviceBuffer idx, int nnz, int numLatents, Workspace ws) {
        idx.require(4L * nnz, "groupByLatent indices [" + nnz + "]");
        int n = LaunchMath.sortLength(nnz);
        DeviceBuffer keys = ws.get("groups.keys", 8L * n);
        DeviceBuffer segStart = ws.get("groups.segStart", 4L * numLatents);
        DeviceBuffer segEnd = ws.get("groups.segEnd", 4L * numLatents);
        segStart.zero(4L * numLatents);
        segEnd.zero(4L * numLatents);
        if (nnz == 0) {
            return new LatentGroups(keys, segStart, segEnd, 0, numLatents);
        }
        int sm = ctx.multiprocessors();
        ctx.launch(fn("latent_keys"), LaunchMath.elementwiseGrid(n, sm), 1, ROW_THREADS, 0,
                KernelArgs.of().ptr(idx).i(nnz).i(n).ptr(keys));
        int tile = LaunchMath.sortTile(n);
        int tileThreads = Math.max(32, Math.min(LaunchMath.SORT_THREADS, tile / 2));
        for (LaunchMath.SortStep step : LaunchMath.sortSchedule(n)) {
            switch (step.kind()) {
                case SORT_TILES:
                    ctx.launch(fn("bitonic_sort_tiles"), n / tile, 1, tileThreads, 0, KernelArgs.of().ptr(keys).i(tile));
                    break;
                case MERGE_GLOBAL:
                    ctx.launch(fn("bitonic_merge_global"), LaunchMath.elementwiseGrid(n / 2, sm), 1, ROW_THREADS, 0,
                            KernelArgs.of().ptr(keys).i(n).i(step.size()).i(step.stride()));
                    break;
                case MERGE_TILES:
                    ctx.launch(fn("bitonic_merge_tiles"), n / tile, 1, tileThreads, 0,
                            KernelArgs.of().ptr(keys).i(tile).i(step.size()));
                    break;
                default:
                    throw new IllegalStateException("unknown sort step " + step);
            }
        }
        ctx.launch(fn("segment_bounds"), LaunchMath.elementwiseGrid(nnz, sm), 1, ROW_THREADS, 0,
                KernelArgs.of().ptr(keys).i(nnz).ptr(segStart).ptr(segEnd));
        return new LatentGroups(keys, segStart, segEnd, nnz, numLatents);
    }

    /**
     * For every latent j and each of its entries p (ascending row): {@code dW[j] += coef[p] · (src[row(p)] - shift)}
     * and {@code dBias[j] += coef[p]}. {@code src [rows x ld]}, {@code dW [numLatents x ld]}; shift and dBias may be
     * null. Deterministic: each latent row is summed by one block in entry order.
     */
    public void scatterOuter(LatentGroups groups, DeviceBuffer entryRow, int kFixed, DeviceBuffer coef, DeviceBuffer src,
                             int rows, DeviceBuffer shift, int ld, DeviceBuffer dW, DeviceBuffer dBias) {
        int nnz = groups.nnz();
        int numLatents = groups.numLatents();
        if (entryRow == null && (long) rows * kFixed != nnz) {
            throw new IllegalArgumentException("scatterOuter: " + rows + " rows of k=" + kFixed + " but " + nnz + " entries");
        }
        if (entryRow != null) {
            entryRow.require(4L * nnz, "scatterOuter entry rows [" + nnz + "]");
        }
        coef.require(4L * nnz, "scatterOuter coefficients [" + nnz + "]");
        src.require(4L * rows * ld, "scatterOuter src [" + rows + " x " + ld + "]");
        if (shift != null) {
            shift.require(4L * ld, "scatterOuter shift [" + ld + "]");
        }
        dW.require(4L * numLatents * ld, "scatterOuter dW [" + numLatents + " x " + ld + "]");
        if (dBias != null) {
            dBias.require(4L * numLatents, "scatterOuter dBias [" + numLatents + "]");
        }
        if (nnz == 0) {
            return;
        }
        ctx.launch(fn("scatter_outer"), numLatents, 1, LaunchMath.vectorRowThreads(ld), 0,
                KernelArgs.of().ptr(groups.keys()).ptr(groups.segStart()).ptr(groups.segEnd()).ptr(entryRow).i(kFixed)
                        .ptr(coef).ptr(src).ptr(shift).i(ld).ptr(dW).ptr(dBias));
    }

    private KernelFunction fn(String name) {
        return ctx.function(FAMILY, name);
    }

    private static void requireRows(DeviceBuffer entryRow, int kFixed, DeviceBuffer idx, int nnz, int rows, int ld) {
        if (nnz < 0 || rows < 0 || ld < LaunchMath.K_PAD || ld % LaunchMath.K_PAD != 0) {
            throw new IllegalArgumentException("sparse backward over " + rows + " rows, " + nnz + " entries, ld " + ld);
        }
        if (entryRow == null && (long) rows * kFixed != nnz) {
            throw new IllegalArgumentException("sparse backward: " + rows + " rows of k=" + kFixed + " but " + nnz + " entries");
        }
        if (entryRow != null) {
            entryRow.require(4L * nnz, "entry rows [" + nnz + "]");
        }
        idx.require(4L * nnz, "code indices [" + nnz + "]");
    }
}
