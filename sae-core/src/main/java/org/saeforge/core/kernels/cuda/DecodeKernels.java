package org.saeforge.core.kernels.cuda;

/** The sparse decode of {@code decode.cu} on device buffers: {@code out[r] = Σ val[p] · w[idx[p]] + bias}. */
public final class DecodeKernels {
    private final CudaContext ctx;

    public DecodeKernels(CudaContext ctx) {
        this.ctx = ctx;
    }

    /**
     * Decodes {@code rows} rows of codes into {@code out [rows x ld]}. Row r's entries are {@code indptr[r] ..
     * indptr[r+1]} when indptr is not null, else {@code r*kFixed .. (r+1)*kFixed}. {@code w [numLatents x ld]},
     * {@code bias [ld]} (may be null). Latent ids must be below numLatents (the caller validates them).
     */
    public void decode(DeviceBuffer indptr, int kFixed, DeviceBuffer idx, DeviceBuffer val, int rows, int nnz,
                       DeviceBuffer w, int numLatents, int ld, DeviceBuffer bias, DeviceBuffer out) {
        if (rows < 0 || nnz < 0 || numLatents < 1 || ld < LaunchMath.K_PAD || ld % LaunchMath.K_PAD != 0) {
            throw new IllegalArgumentException("decode of " + rows + " rows, " + nnz + " entries, " + numLatents
                    + " latents, ld " + ld);
        }
        if (indptr == null && (long) rows * kFixed != nnz) {
            throw new IllegalArgumentException("decode: " + rows + " rows of k=" + kFixed + " but " + nnz + " entries");
        }
        if (indptr != null) {
            indptr.require(4L * (rows + 1), "decode indptr [" + (rows + 1) + "]");
        }
        idx.require(4L * nnz, "decode indices [" + nnz + "]");
        val.require(4L * nnz, "decode values [" + nnz + "]");
        w.require(4L * numLatents * ld, "decode weights [" + numLatents + " x " + ld + "]");
        if (bias != null) {
            bias.require(4L * ld, "decode bias [" + ld + "]");
        }
        out.require(4L * rows * ld, "decode output [" + rows + " x " + ld + "]");
        if (rows == 0) {
            return;
        }
        ctx.launch(ctx.function("decode", "sparse_decode"), rows, 1, LaunchMath.vectorRowThreads(ld), 0,
                KernelArgs.of().ptr(indptr).i(kFixed).ptr(idx).ptr(val).ptr(w).i(ld).ptr(bias).ptr(out));
    }
}
