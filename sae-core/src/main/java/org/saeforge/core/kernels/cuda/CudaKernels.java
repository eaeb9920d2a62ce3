package org.saeforge.core.kernels.cuda;

import java.util.Arrays;
import java.util.Map;
import org.saeforge.core.kernels.AdamStep;
import org.saeforge.core.kernels.AuxSelection;
import org.saeforge.core.kernels.Kernels;
import org.saeforge.core.kernels.Shapes;
import org.saeforge.core.model.Architecture;
import org.saeforge.core.model.SparseAutoencoder;
import org.saeforge.core.tensor.FloatMatrix;
import org.saeforge.core.tensor.SparseCodes;

/**
 * The CUDA backend ({@code --device cuda}): every {@link Kernels} operation through the hand-written kernels of
 * {@code src/main/cuda}, launched with the JCuda driver API. This class works on host arrays, so each call uploads its
 * operands and downloads its results; the kernel-family classes ({@link EncoderKernels}, {@link DecodeKernels},
 * {@link BackwardKernels}, {@link AuxKKernels}, {@link AdamKernels}, {@link MetricKernels}) work on device buffers
 * for a device-resident training loop.
 *
 * <p>Owns its {@link CudaContext} and device memory: {@link #close()} releases both. Use from one thread at a time.
 */
public final class CudaKernels implements Kernels {
    /** Rows of x per encoder pass (bounds the device memory of one pass: x, operand, candidates). */
    static final int ENCODE_ROWS_PER_PASS = 16384;
    /** One kernel per family, looked up at {@link #open} so that every module is loaded (and checked) up front. */
    private static final Map<String, String> FIRST_KERNEL = Map.of(
            "encode", "topk_rows_keys", "decode", "sparse_decode", "backward", "scatter_outer",
            "auxk", "gather_rows", "adam", "adam_step", "metrics", "residual_sse", "train", "convert_rows");

    /**
     * How to open the backend.
     *
     * @param device         CUDA device ordinal
     * @param precision      operand precision of the encoder GEMM and of {@link #matmulNT}
     * @param poisonOutputs  fill every output buffer with NaN (or an invalid index) before its kernel runs, so that an
     *                       element the kernel fails to write shows in the result (tests)
     * @param syncEachLaunch synchronise after every launch so that a fault names its kernel (tests)
     */
    public record Options(int device, GemmPrecision precision, boolean poisonOutputs, boolean syncEachLaunch) {
        public Options {
            if (precision == null) {
                throw new IllegalArgumentException("precision must be given");
            }
        }

        /** Device 0, TF32 operands, no poisoning, asynchronous launches. */
        public static Options defaults() {
            return new Options(0, GemmPrecision.TF32, false, false);
        }

        public Options withPrecision(GemmPrecision p) {
            return new Options(device, p, poisonOutputs, syncEachLaunch);
        }

        /** Poisoned outputs and a synchronisation after every launch: what the parity tests use. */
        public Options checked() {
            return new Options(device, precision, true, true);
        }
    }

    private final CudaContext ctx;
    private final Options options;
    private final Workspace ws;
    private final EncoderKernels enc;
    private final DecodeKernels dec;
    private final BackwardKernels bwd;
    private final AuxKKernels auxk;
    private final AdamKernels adamKernels;
    private final MetricKernels metrics;

    private CudaKernels(CudaContext ctx, Options options) {
        this.ctx = ctx;
        this.options = options;
        this.ws = new Workspace(ctx);
        this.enc = new EncoderKernels(ctx);
        this.dec = new DecodeKernels(ctx);
        this.bwd = new BackwardKernels(ctx);
        this.auxk = new AuxKKernels(ctx);
        this.adamKernels = new AdamKernels(ctx);
        this.metrics = new MetricKernels(ctx);
    }

    /**
     * Opens the backend and loads every kernel module, so that a device the fatbins cannot serve fails here rather
     * than in the middle of training. No driver, GPU or JCuda: {@link CudaUnavailableException}.
     */
    public static CudaKernels open(Options options) {
        CudaContext ctx = CudaContext.open(options.device(), options.syncEachLaunch());
        try {
            for (String family : CudaBinaries.FAMILIES) {
                ctx.function(family, FIRST_KERNEL.get(family));
            }
            return new CudaKernels(ctx, options);
        } catch (RuntimeException | Error e) {
            ctx.close();
            throw e;
        }
    }

    @Override
    public String name() {
        return "cuda";
    }

    @Override
    public int threads() {
        return 1;
    }

    /** The context: device name, launch count, event timing. */
    public CudaContext context() {
        return ctx;
    }

    public GemmPrecision precision() {
        return options.precision();
    }

    /** Device memory this backend holds, in bytes. */
    public long deviceBytes() {
        return ws.allocatedBytes();
    }

    @Override
    public void encode(FloatMatrix x, SparseAutoencoder sae, SparseCodes out, AuxSelection aux) {
        Shapes.checkEncode(x, sae, out, aux);
        Architecture arch = sae.config().architecture();
        int rows = x.rows();
        int d = sae.dIn();
        int n = sae.numLatents();
        int k = arch.usesK() ? sae.config().k() : 0;
        if (arch.usesK()) {
            requireTopK(k, n, "k");
            out.setFixedK(rows, k);
        } else {
            out.reset(rows);
        }
        if (aux != null) {
            requireTopK(aux.kAux(), aux.numDead(), "kAux");
            requireDeadIds(aux, n);
            aux.out().setFixedK(rows, aux.kAux());
        }
        if (rows == 0) {
            return;
        }
        GemmPrecision p = options.precision();
        int ld = LaunchMath.paddedLd(d);
        DeviceBuffer wF32 = ws.get("enc.w", 4L * n * ld);
        wF32.uploadRows(sae.wEncT().data(), 0, n, d, ld);
        DeviceBuffer wOp = operand(p, wF32, (long) n * ld, "enc.w.bf16");
        DeviceBuffer bEnc = ws.get("enc.bEnc", 4L * n);
        bEnc.upload(sae.bEnc(), 0, n, 0);
        DeviceBuffer bDec = null;
        if (sae.config().applyBDecToInput()) {
            bDec = ws.get("enc.bDec", 4L * ld);
            bDec.uploadRows(sae.bDec(), 0, 1, d, ld);
        }
        DeviceBuffer thr = null;
        if (!arch.usesK() && arch != Architecture.RELU) {
            thr = ws.get("enc.thr", 4L * n);
            thr.upload(sae.threshold(), 0, n, 0);
        }
        DeviceBuffer deadIds = null;
        DeviceBuffer wDeadOp = null;
        DeviceBuffer bDead = null;
        if (aux != null) {
            int numDead = aux.numDead();
            deadIds = ws.get("aux.ids", 4L * numDead);
            deadIds.upload(aux.deadIds(), 0, numDead, 0);
            DeviceBuffer wDead = ws.get("aux.w", 4L * numDead * ld);
            auxk.gatherRows(wF32, n, ld, deadIds, numDead, wDead);
            wDeadOp = operand(p, wDead, (long) numDead * ld, "aux.w.bf16");
            bDead = ws.get("aux.bEnc", 4L * numDead);
            auxk.gatherValues(bEnc, deadIds, numDead, bDead);
        }
        int pass = Math.min(rows, ENCODE_ROWS_PER_PASS);
        DeviceBuffer xBuf = ws.get("enc.x", 4L * pass * ld);
        DeviceBuffer xc = ws.get("enc.xc", (long) pass * ld * p.operandBytes());
        int nnz = 0;
        for (int r0 = 0; r0 < rows; r0 += pass) {
            int m = Math.min(pass, rows - r0);
            xBuf.uploadRows(x.data(), r0, m, d, ld);
            enc.prepareInput(xBuf, bDec, m, ld, p, xc);
            if (arch.usesK()) {
                selectInto(p, xc, wOp, bEnc, m, n, ld, k, null, out, r0);
            } else {
                nnz = thresholdInto(p, xc, wOp, bEnc, thr, m, n, ld, out, r0, nnz);
            }
            if (aux != null) {
                selectInto(p, xc, wDeadOp, bDead, m, aux.numDead(), ld, aux.kAux(), deadIds, aux.out(), r0);
            }
        }
    }

    private DeviceBuffer operand(GemmPrecision p, DeviceBuffer f32, long count, String bf16Name) {
        if (p != GemmPrecision.BF16) {
            return f32;
        }
        DeviceBuffer b = ws.get(bf16Name, 2 * count);
        enc.convertToBf16(f32, count, b);
        return b;
    }

    private void selectInto(GemmPrecision p, DeviceBuffer a, DeviceBuffer b, DeviceBuffer bias, int m, int n, int ld,
                            int k, DeviceBuffer map, SparseCodes out, int r0) {
        DeviceBuffer idx = ws.get("enc.outIdx", 4L * m * k);
        DeviceBuffer val = ws.get("enc.outVal", 4L * m * k);
        poison(idx, (long) m * k);
        poison(val, (long) m * k);
        enc.selectTopK(p, a, b, bias, m, n, ld, k, map, idx, val, ws);
        idx.download(0, out.indices(), r0 * k, m * k);
        val.download(0, out.values(), r0 * k, m * k);
    }

    /** JumpReLU / ReLU rows [r0, r0 + m): dense chunks, counts, host prefix sum, ordered compaction. */
    private int thresholdInto(GemmPrecision p, DeviceBuffer xc, DeviceBuffer w, DeviceBuffer bEnc, DeviceBuffer thr, int m,
                              int n, int ld, SparseCodes out, int r0, int nnz) {
        int chunk = LaunchMath.denseChunkRows(m, n);
        DeviceBuffer pre = ws.get("enc.pre", 4L * chunk * n);
        DeviceBuffer counts = ws.get("enc.counts", 4L * chunk);
        DeviceBuffer rowStart = ws.get("enc.rowStart", 4L * chunk);
        long rowBytes = (long) ld * p.operandBytes();
        int[] c = new int[chunk];
        int[] start = new int[chunk];
        for (int s0 = 0; s0 < m; s0 += chunk) {
            int rows = Math.min(chunk, m - s0);
            enc.gemmStore(p, xc.view(s0 * rowBytes, rows * rowBytes), w, bEnc, rows, n, ld, pre, n);
            poison(counts, rows);
            enc.thresholdCount(pre, n, rows, n, thr, counts);
            counts.download(0, c, 0, rows);
            long total = 0;
            for (int r = 0; r < rows; r++) {
                start[r] = (int) total;
                total += c[r];
            }
            if (nnz + total > Integer.MAX_VALUE - 8) {
                throw new IllegalArgumentException("encode: more than 2^31 active latents in one batch");
            }
            rowStart.upload(start, 0, rows, 0);
            DeviceBuffer idx = ws.get("enc.varIdx", 4 * Math.max(1, total));
            DeviceBuffer val = ws.get("enc.varVal", 4 * Math.max(1, total));
            poison(idx, total);
            poison(val, total);
            enc.thresholdCompact(pre, n, rows, n, thr, rowStart, idx, val);
            out.ensureCapacity(nnz + (int) total);
            idx.download(0, out.indices(), nnz, (int) total);
            val.download(0, out.values(), nnz, (int) total);
            for (int r = 0; r < rows; r++) {
                out.setRowEnd(r0 + s0 + r, nnz + start[r] + c[r]);
            }
            nnz += (int) total;
        }
        return nnz;
    }

    @Override
    public void decode(SparseCodes codes, FloatMatrix w, float[] bias, FloatMatrix out) {
        Shapes.checkDecode(codes, w, bias, out);
        int rows = codes.rows();
        int d = w.cols();
        if (rows == 0 || d == 0) {
            return;
        }
        requireLatentIds(codes, w.rows(), "decode");
        int ld = LaunchMath.paddedLd(d);
        Codes c = uploadCodes(codes, "dec");
        DeviceBuffer wBuf = ws.get("dec.w", 4L * w.rows() * ld);
        wBuf.uploadRows(w.data(), 0, w.rows(), d, ld);
        DeviceBuffer biasBuf = null;
        if (bias != null) {
            biasBuf = ws.get("dec.bias", 4L * ld);
            biasBuf.uploadRows(bias, 0, 1, d, ld);
        }
        DeviceBuffer outBuf = ws.get("dec.out", 4L * rows * ld);
        poison(outBuf, (long) rows * ld);
        dec.decode(c.indptr, c.kFixed, c.idx, c.val, rows, c.nnz, wBuf, w.rows(), ld, biasBuf, outBuf);
        outBuf.downloadRows(out.data(), 0, rows, d, ld);
    }

    @Override
    public void gatherDots(SparseCodes codes, FloatMatrix dOut, FloatMatrix w, float[] dValues) {
        Shapes.checkGatherDots(codes, dOut, w, dValues);
        int nnz = codes.nnz();
        int d = w.cols();
        if (nnz == 0) {
            return;
        }
        if (d == 0) {
            Arrays.fill(dValues, 0, nnz, 0f);
            return;
        }
        requireLatentIds(codes, w.rows(), "gatherDots");
        int ld = LaunchMath.paddedLd(d);
        Codes c = uploadCodes(codes, "gd");
        DeviceBuffer entryRow = entryRows(c, codes.rows(), "gd");
        DeviceBuffer g = ws.get("gd.dOut", 4L * codes.rows() * ld);
        g.uploadRows(dOut.data(), 0, codes.rows(), d, ld);
        DeviceBuffer wBuf = ws.get("gd.w", 4L * w.rows() * ld);
        wBuf.uploadRows(w.data(), 0, w.rows(), d, ld);
        DeviceBuffer out = ws.get("gd.out", 4L * nnz);
        poison(out, nnz);
        bwd.gatherDots(entryRow, c.kFixed, c.idx, nnz, g, codes.rows(), wBuf, w.rows(), ld, out);
        out.download(0, dValues, 0, nnz);
    }

    @Override
    public void scatterOuter(SparseCodes codes, float[] coef, FloatMatrix src, float[] shift, FloatMatrix dW, float[] dBias) {
        Shapes.checkScatterOuter(codes, coef, src, shift, dW, dBias);
        int nnz = codes.nnz();
        int n = dW.rows();
        int d = dW.cols();
        if (nnz == 0 || (d == 0 && dBias == null)) {
            return;
        }
        requireLatentIds(codes, n, "scatterOuter");
        int ld = LaunchMath.paddedLd(Math.max(1, d));
        Codes c = uploadCodes(codes, "so");
        DeviceBuffer entryRow = entryRows(c, codes.rows(), "so");
        DeviceBuffer coefBuf = ws.get("so.coef", 4L * nnz);
        coefBuf.upload(coef, 0, nnz, 0);
        DeviceBuffer srcBuf = ws.get("so.src", 4L * codes.rows() * ld);
        DeviceBuffer dWBuf = ws.get("so.dW", 4L * n * ld);
        if (d > 0) {
            srcBuf.uploadRows(src.data(), 0, codes.rows(), d, ld);
            dWBuf.uploadRows(dW.data(), 0, n, d, ld);
        } else {
            srcBuf.zero(4L * codes.rows() * ld);
            dWBuf.zero(4L * n * ld);
        }
        DeviceBuffer shiftBuf = null;
        if (shift != null && d > 0) {
            shiftBuf = ws.get("so.shift", 4L * ld);
            shiftBuf.uploadRows(shift, 0, 1, d, ld);
        }
        DeviceBuffer dBiasBuf = null;
        if (dBias != null) {
            dBiasBuf = ws.get("so.dBias", 4L * n);
            dBiasBuf.upload(dBias, 0, n, 0);
        }
        BackwardKernels.LatentGroups groups = bwd.groupByLatent(c.idx, nnz, n, ws);
        bwd.scatterOuter(groups, entryRow, c.kFixed, coefBuf, srcBuf, codes.rows(), shiftBuf, ld, dWBuf, dBiasBuf);
        if (d > 0) {
            dWBuf.downloadRows(dW.data(), 0, n, d, ld);
        }
        if (dBias != null) {
            dBiasBuf.download(0, dBias, 0, n);
        }
    }

    @Override
    public void matmulNT(FloatMatrix a, FloatMatrix b, FloatMatrix c) {
        Shapes.checkMatmulNT(a, b, c);
        int m = a.rows();
        int n = b.rows();
        int kd = a.cols();
        if (m == 0 || n == 0) {
            return;
        }
        if (kd == 0) {
            c.fill(0f);
            return;
        }
        GemmPrecision p = options.precision();
        int ld = LaunchMath.paddedLd(kd);
        int pass = Math.min(m, LaunchMath.MAX_GRID_Y * LaunchMath.GEMM_BM);
        DeviceBuffer bF32 = ws.get("mm.b", 4L * n * ld);
        bF32.uploadRows(b.data(), 0, n, kd, ld);
        DeviceBuffer bOp = operand(p, bF32, (long) n * ld, "mm.b.bf16");
        DeviceBuffer aF32 = ws.get("mm.a", 4L * pass * ld);
        DeviceBuffer cBuf = ws.get("mm.c", 4L * pass * n);
        for (int r0 = 0; r0 < m; r0 += pass) {
            int rows = Math.min(pass, m - r0);
            aF32.uploadRows(a.data(), r0, rows, kd, ld);
            DeviceBuffer aOp = operand(p, aF32, (long) rows * ld, "mm.a.bf16");
            poison(cBuf, (long) rows * n);
            enc.gemmStore(p, aOp, bOp, null, rows, n, ld, cBuf, n);
            cBuf.download(0, c.data(), r0 * n, rows * n);
        }
    }

    @Override
    public void adam(float[] param, float[] grad, float[] m, float[] v, int n, AdamStep step) {
        Shapes.checkAdam(param, grad, m, v, n);
        if (n == 0) {
            return;
        }
        DeviceBuffer p = upload("adam.p", param, n);
        DeviceBuffer g = upload("adam.g", grad, n);
        DeviceBuffer mb = upload("adam.m", m, n);
        DeviceBuffer vb = upload("adam.v", v, n);
        adamKernels.step(p, g, mb, vb, n, step, null);
        p.download(0, param, 0, n);
        mb.download(0, m, 0, n);
        vb.download(0, v, 0, n);
    }

    @Override
    public void removeParallelComponent(FloatMatrix w, FloatMatrix grad) {
        grad.requireShape(w.rows(), w.cols(), "removeParallelComponent grad");
        if (w.rows() == 0 || w.cols() == 0) {
            return;
        }
        int ld = LaunchMath.paddedLd(w.cols());
        DeviceBuffer wb = uploadRows("rp.w", w, ld);
        DeviceBuffer gb = uploadRows("rp.g", grad, ld);
        adamKernels.removeParallel(wb, gb, w.rows(), ld);
        gb.downloadRows(grad.data(), 0, w.rows(), w.cols(), ld);
    }

    @Override
    public void normalizeRows(FloatMatrix w) {
        if (w.rows() == 0 || w.cols() == 0) {
            return;
        }
        int ld = LaunchMath.paddedLd(w.cols());
        DeviceBuffer wb = uploadRows("nr.w", w, ld);
        adamKernels.normalizeRows(wb, w.rows(), ld);
        wb.downloadRows(w.data(), 0, w.rows(), w.cols(), ld);
    }

    /**
     * The fused decoder step ({@code adam_decoder_rows}): removes from each row of {@code grad} its component parallel
     * to the row of {@code w}, applies Adam to w with moments m, v ({@code [rows * cols]}, row-major), renormalises the
     * rows of w. Equal to {@link #removeParallelComponent}, {@link #adam} and {@link #normalizeRows} in sequence.
     */
    public void adamDecoderRows(FloatMatrix w, FloatMatrix grad, float[] m, float[] v, AdamStep step) {
        grad.requireShape(w.rows(), w.cols(), "adamDecoderRows grad");
        int rows = w.rows();
        int d = w.cols();
        Shapes.checkAdam(w.data(), grad.data(), m, v, rows * d);
        if (rows == 0 || d == 0) {
            return;
        }
        int ld = LaunchMath.paddedLd(d);
        DeviceBuffer wb = uploadRows("ad.w", w, ld);
        DeviceBuffer gb = uploadRows("ad.g", grad, ld);
        DeviceBuffer mb = ws.get("ad.m", 4L * rows * ld);
        mb.uploadRows(m, 0, rows, d, ld);
        DeviceBuffer vb = ws.get("ad.v", 4L * rows * ld);
        vb.uploadRows(v, 0, rows, d, ld);
        adamKernels.decoderStep(wb, gb, mb, vb, rows, ld, step);
        wb.downloadRows(w.data(), 0, rows, d, ld);
        gb.downloadRows(grad.data(), 0, rows, d, ld);
        mb.downloadRows(m, 0, rows, d, ld);
        vb.downloadRows(v, 0, rows, d, ld);
    }

    /**
     * {@code Σ (xHat - x)²}; when {@code grad} is not null it receives {@code gradScale · (xHat - x)} (the loss
     * gradient of TopKObjective with gradScale = 2 / totalVariance).
     */
    public double squaredError(FloatMatrix x, FloatMatrix xHat, float gradScale, FloatMatrix grad) {
        xHat.requireShape(x.rows(), x.cols(), "squaredError xHat");
        if (grad != null) {
            grad.requireShape(x.rows(), x.cols(), "squaredError gradient");
        }
        if (x.rows() == 0 || x.cols() == 0) {
            return 0.0;
        }
        int ld = LaunchMath.paddedLd(x.cols());
        DeviceBuffer xb = uploadRows("se.x", x, ld);
        DeviceBuffer hb = uploadRows("se.xHat", xHat, ld);
        DeviceBuffer gb = null;
        if (grad != null) {
            gb = ws.get("se.grad", 4L * x.rows() * ld);
            poison(gb, (long) x.rows() * ld);
        }
        double sse = metrics.sumSquaredError(xb, hb, (long) x.rows() * ld, gradScale, gb, ws);
        if (gb != null) {
            gb.downloadRows(grad.data(), 0, x.rows(), x.cols(), ld);
        }
        return sse;
    }

    /** {@code Σ ‖x[r] - mean(x)‖²}: the variance sum that normalises FVU. */
    public double totalVariance(FloatMatrix x) {
        if (x.rows() == 0 || x.cols() == 0) {
            return 0.0;
        }
        int ld = LaunchMath.paddedLd(x.cols());
        DeviceBuffer xb = uploadRows("tv.x", x, ld);
        return metrics.totalVariance(xb, x.rows(), ld, ws);
    }

    /**
     * Over the entries of {@code codes}: returns how many have a value > 0 (the batch's L0 sum); adds to
     * {@code fired[j]} the entries of latent j with value > 0 and to {@code selected[j]} all of latent j's entries
     * (either array may be null).
     */
    public long codeStats(SparseCodes codes, int[] fired, int[] selected) {
        int n = codes.numLatents();
        requireLength(fired, n, "codeStats fired");
        requireLength(selected, n, "codeStats selected");
        requireLatentIds(codes, n, "codeStats");
        int nnz = codes.nnz();
        DeviceBuffer idx = ws.get("cs.idx", 4L * nnz);
        idx.upload(codes.indices(), 0, nnz, 0);
        DeviceBuffer val = ws.get("cs.val", 4L * nnz);
        val.upload(codes.values(), 0, nnz, 0);
        DeviceBuffer f = fired == null ? null : upload("cs.fired", fired, n);
        DeviceBuffer s = selected == null ? null : upload("cs.selected", selected, n);
        long positive = metrics.codeStats(idx, val, nnz, f, s, n, ws);
        if (f != null) {
            f.download(0, fired, 0, n);
        }
        if (s != null) {
            s.download(0, selected, 0, n);
        }
        return positive;
    }

    /**
     * The AuxK residual: {@code diff = auxHat - (x - xHat)}; {@code grad = gradScale · diff}; returns {@code Σ diff²}.
     */
    public double auxKResidual(FloatMatrix x, FloatMatrix xHat, FloatMatrix auxHat, float gradScale, FloatMatrix grad) {
        xHat.requireShape(x.rows(), x.cols(), "auxKResidual xHat");
        auxHat.requireShape(x.rows(), x.cols(), "auxKResidual auxHat");
        grad.requireShape(x.rows(), x.cols(), "auxKResidual gradient");
        if (x.rows() == 0 || x.cols() == 0) {
            return 0.0;
        }
        int ld = LaunchMath.paddedLd(x.cols());
        DeviceBuffer xb = uploadRows("ak.x", x, ld);
        DeviceBuffer hb = uploadRows("ak.xHat", xHat, ld);
        DeviceBuffer ab = uploadRows("ak.auxHat", auxHat, ld);
        DeviceBuffer gb = ws.get("ak.grad", 4L * x.rows() * ld);
        poison(gb, (long) x.rows() * ld);
        double sse = auxk.residual(xb, hb, ab, (long) x.rows() * ld, gradScale, gb, ws);
        gb.downloadRows(grad.data(), 0, x.rows(), x.cols(), ld);
        return sse;
    }

    @Override
    public void close() {
        try {
            ws.close();
        } finally {
            ctx.close();
        }
    }

    @Override
    public String toString() {
        return "CudaKernels[" + ctx + ", " + options.precision().suffix() + "]";
    }

    /** Codes on the device: fixed-k codes need no indptr (kFixed > 0), others carry it (kFixed = 0). */
    private record Codes(DeviceBuffer indptr, int kFixed, DeviceBuffer idx, DeviceBuffer val, int nnz) {
    }

    private Codes uploadCodes(SparseCodes codes, String prefix) {
        int rows = codes.rows();
        int nnz = codes.nnz();
        DeviceBuffer idx = ws.get(prefix + ".idx", 4L * nnz);
        idx.upload(codes.indices(), 0, nnz, 0);
        DeviceBuffer val = ws.get(prefix + ".val", 4L * nnz);
        val.upload(codes.values(), 0, nnz, 0);
        int k = fixedK(codes);
        if (k > 0) {
            return new Codes(null, k, idx, val, nnz);
        }
        DeviceBuffer indptr = ws.get(prefix + ".indptr", 4L * (rows + 1));
        indptr.upload(codes.indptr(), 0, rows + 1, 0);
        return new Codes(indptr, 0, idx, val, nnz);
    }

    private DeviceBuffer entryRows(Codes c, int rows, String prefix) {
        if (c.indptr == null) {
            return null;
        }
        DeviceBuffer entryRow = ws.get(prefix + ".entryRow", 4L * c.nnz);
        poison(entryRow, c.nnz);
        bwd.entryRows(c.indptr, rows, entryRow, c.nnz);
        return entryRow;
    }

    /** k when every row of codes has exactly k > 0 entries, else 0. */
    static int fixedK(SparseCodes codes) {
        int rows = codes.rows();
        if (rows == 0) {
            return 0;
        }
        int k = codes.rowEnd(0) - codes.rowStart(0);
        if (k <= 0) {
            return 0;
        }
        for (int r = 0; r < rows; r++) {
            if (codes.rowStart(r) != r * k || codes.rowEnd(r) != (r + 1) * k) {
                return 0;
            }
        }
        return k;
    }

    private DeviceBuffer upload(String name, float[] a, int n) {
        DeviceBuffer b = ws.get(name, 4L * n);
        b.upload(a, 0, n, 0);
        return b;
    }

    private DeviceBuffer upload(String name, int[] a, int n) {
        DeviceBuffer b = ws.get(name, 4L * n);
        b.upload(a, 0, n, 0);
        return b;
    }

    private DeviceBuffer uploadRows(String name, FloatMatrix m, int ld) {
        DeviceBuffer b = ws.get(name, 4L * m.rows() * ld);
        b.uploadRows(m.data(), 0, m.rows(), m.cols(), ld);
        return b;
    }

    private void poison(DeviceBuffer b, long words) {
        if (options.poisonOutputs() && words > 0) {
            b.poison(words);
        }
    }

    private static void requireLength(int[] a, int n, String what) {
        if (a != null && a.length < n) {
            throw new IllegalArgumentException(what + ": length " + a.length + " < " + n);
        }
    }

    private static void requireTopK(int k, int n, String what) {
        if (k < 1 || k > Math.min(n, LaunchMath.TOPK_SORT_MAX)) {
            throw new IllegalArgumentException("--device cuda supports 1 <= " + what + " <= min(" + n + ", "
                    + LaunchMath.TOPK_SORT_MAX + "), got " + what + "=" + k);
        }
    }

    private static void requireDeadIds(AuxSelection aux, int numLatents) {
        int[] ids = aux.deadIds();
        for (int i = 0; i < aux.numDead(); i++) {
            if (ids[i] < 0 || ids[i] >= numLatents || (i > 0 && ids[i] <= ids[i - 1])) {
                throw new IllegalArgumentException("AuxK dead ids must be ascending latents in [0, " + numLatents
                        + "); entry " + i + " is " + ids[i]);
            }
        }
    }

    private static void requireLatentIds(SparseCodes codes, int numLatents, String what) {
        int[] idx = codes.indices();
        for (int p = 0, nnz = codes.nnz(); p < nnz; p++) {
            if (idx[p] < 0 || idx[p] >= numLatents) {
                throw new IllegalArgumentException(what + ": code entry " + p + " names latent " + idx[p] + ", outside [0, "
                        + numLatents + ")");
            }
        }
    }
}
