package org.saeforge.core.kernels.cuda;

import static org.saeforge.core.kernels.cuda.CudaException.check;

import java.util.ArrayList;
import java.util.List;
import jcuda.driver.CUresult;
import jcuda.driver.JCudaDriver;
import org.saeforge.core.SaeException;
import org.saeforge.core.kernels.AdamStep;
import org.saeforge.core.kernels.Kernels;
import org.saeforge.core.kernels.device.DeviceArray;
import org.saeforge.core.kernels.device.DeviceClock;
import org.saeforge.core.kernels.device.DeviceGroups;
import org.saeforge.core.kernels.device.DeviceMemoryPlan;
import org.saeforge.core.kernels.device.DeviceMemoryPlan.Category;
import org.saeforge.core.kernels.device.IntReadback;
import org.saeforge.core.kernels.device.TrainDevice;

/**
 * The GPU as a {@link TrainDevice}: every operation is a launch of the kernel families on the legacy default stream of
 * the {@link CudaKernels} backend's context, in order, without synchronising; arrays are padded device buffers. Owns
 * what it allocates ({@link #close()} frees it); the context stays with the backend.
 */
public final class CudaTrainDevice implements TrainDevice {
    private final CudaContext ctx;
    private final GemmPrecision precision;
    private final Workspace ws;
    private final EncoderKernels enc;
    private final DecodeKernels dec;
    private final BackwardKernels bwd;
    private final AuxKKernels auxk;
    private final AdamKernels adam;
    private final TrainKernels train;
    private final List<AutoCloseable> owned = new ArrayList<>();
    private long arrayBytes;

    /** A device buffer as a {@link DeviceArray}. */
    static final class CudaArray implements DeviceArray {
        final DeviceBuffer buf;

        CudaArray(DeviceBuffer buf) {
            this.buf = buf;
        }

        @Override
        public long bytes() {
            return buf.bytes();
        }
    }

    private record Groups(BackwardKernels.LatentGroups groups) implements DeviceGroups {
        @Override
        public int nnz() {
            return groups.nnz();
        }
    }

    CudaTrainDevice(CudaContext ctx, GemmPrecision precision) {
        this.ctx = ctx;
        this.precision = precision;
        this.ws = new Workspace(ctx);
        this.enc = new EncoderKernels(ctx);
        this.dec = new DecodeKernels(ctx);
        this.bwd = new BackwardKernels(ctx);
        this.auxk = new AuxKKernels(ctx);
        this.adam = new AdamKernels(ctx);
        this.train = new TrainKernels(ctx, ws);
    }

    /** The training device on the GPU of a CUDA backend ({@code kernels} must be {@link CudaKernels}). */
    public static CudaTrainDevice open(Kernels kernels, GemmPrecision precision) {
        if (!(kernels instanceof CudaKernels)) {
            throw new IllegalArgumentException("the CUDA training device needs the CUDA backend, got " + kernels.name());
        }
        return new CudaTrainDevice(((CudaKernels) kernels).context(), precision);
    }

    CudaContext context() {
        return ctx;
    }

    TrainKernels trainKernels() {
        return train;
    }

    public GemmPrecision precision() {
        return precision;
    }

    static DeviceBuffer buf(DeviceArray a) {
        return a == null ? null : ((CudaArray) a).buf;
    }

    @Override
    public String description() {
        return ctx.deviceName();
    }

    @Override
    public String encoderKernels() {
        return ctx.encoderKernels();
    }

    @Override
    public int ld(int cols) {
        return LaunchMath.paddedLd(cols);
    }

    @Override
    public int operandBytes() {
        return precision.operandBytes();
    }

    @Override
    public long[] memoryInfo() {
        return ctx.memoryInfo();
    }

    @Override
    public long allocatedBytes() {
        return arrayBytes + ws.allocatedBytes();
    }

    /** Allocates {@code bytes} of device memory for {@code what}; running out is a one-line error with the sizes. */
    CudaArray alloc(long bytes, String what) {
        try {
            DeviceBuffer b = ctx.alloc(bytes);
            owned.add(b);
            arrayBytes += b.bytes();
            return new CudaArray(b);
        } catch (CudaException e) {
            throw outOfMemory(e, what, bytes);
        }
    }

    private RuntimeException outOfMemory(CudaException e, String what, long bytes) {
        if (e.result() != CUresult.CUDA_ERROR_OUT_OF_MEMORY) {
            return e;
        }
        long[] mem = ctx.memoryInfo();
        return new SaeException("--device cuda: out of device memory allocating " + what + " (" + DeviceMemoryPlan.size(bytes) + "): "
                + ctx.deviceName() + " has " + DeviceMemoryPlan.size(mem[0]) + " free of " + DeviceMemoryPlan.size(mem[1]) + ", "
                + DeviceMemoryPlan.size(allocatedBytes()) + " held by this run", e);
    }

    @Override
    public DeviceArray floats(long count, String what) {
        return alloc(4 * count, what);
    }

    @Override
    public DeviceArray ints(long count, String what) {
        return alloc(4 * count, what);
    }

    @Override
    public DeviceArray longs(long count, String what) {
        return alloc(8 * count, what);
    }

    @Override
    public DeviceArray doubles(long count, String what) {
        return alloc(8 * count, what);
    }

    @Override
    public DeviceArray operands(long count, String what) {
        return alloc(count * precision.operandBytes(), what);
    }

    @Override
    public int maxK() {
        return LaunchMath.TOPK_SORT_MAX;
    }

    @Override
    public DeviceMemoryPlan scratchPlan(int rows, int numLatents, int ld, int kMax, int kAuxMax) {
        return scratchPlan(rows, numLatents, ld, kMax, kAuxMax, candidatesPerRow(rows, numLatents, kMax),
                kAuxMax > 0 ? candidatesPerRow(rows, numLatents, kAuxMax) : 0, ctx.multiprocessors());
    }

    private int candidatesPerRow(int rows, int n, int k) {
        return k <= LaunchMath.TOPK_FUSED_MAX ? enc.planTopK(precision, rows, n, k).candidatesPerRow() : 0;
    }

    /**
     * The shared scratch of a device with smCount multiprocessors, given the fused top-k's candidates per row at n
     * columns for kMax and kAuxMax (ignored for k above {@link LaunchMath#TOPK_FUSED_MAX}); kAuxMax 0 means no AuxK.
     */
    public static DeviceMemoryPlan scratchPlan(int rows, int n, int ld, int kMax, int kAuxMax, int mainCandidates, int auxCandidates,
                                               int smCount) {
        long fused = 0;
        long dense = 0;
        for (int[] kc : new int[][] {{kMax, mainCandidates}, {kAuxMax, auxCandidates}}) {
            if (kc[0] < 1) {
                continue;
            }
            long bytes = EncoderKernels.selectScratchBytes(rows, n, kc[0], kc[1]);
            if (kc[0] <= LaunchMath.TOPK_FUSED_MAX) {
                fused = Math.max(fused, bytes);
            } else {
                dense = Math.max(dense, bytes);
            }
        }
        long maxNnz = (long) rows * Math.max(kMax, kAuxMax);
        if (maxNnz > Integer.MAX_VALUE) {
            throw new SaeException("--device cuda: a batch of " + rows + " rows with k=" + Math.max(kMax, kAuxMax) + " has " + maxNnz
                    + " code entries, more than 2^31; lower --batch-size");
        }
        return new DeviceMemoryPlan()
                .add(Category.ENCODER, "fused top-k candidates", fused, 1)
                .add(Category.ENCODER, "dense pre-activation chunk", dense, 1)
                .add(Category.STEP, "grouping of code entries by latent", BackwardKernels.groupScratchBytes((int) maxNnz, n), 1)
                .add(Category.STEP, "reductions", TrainKernels.scratchBytes(rows, ld, n, smCount), 1);
    }

    @Override
    public void reserveScratch(int rows, int numLatents, int ld, int kMax, int kAuxMax) {
        try {
            enc.reserveSelect(precision, rows, numLatents, kMax, ws);
            if (kAuxMax > 0) {
                enc.reserveSelect(precision, rows, numLatents, kAuxMax, ws);
            }
            bwd.reserveGroups(rows * Math.max(kMax, kAuxMax), numLatents, ws);
            train.reserve(rows, ld, numLatents);
        } catch (CudaException e) {
            throw outOfMemory(e, "the encoder and step scratch", 0);
        }
    }

    @Override
    public void uploadRows(float[] src, int rows, int cols, int ld, DeviceArray dst) {
        buf(dst).uploadRows(src, 0, rows, cols, ld);
    }

    @Override
    public void downloadRows(DeviceArray src, int rows, int cols, int ld, float[] dst) {
        buf(src).downloadRows(dst, 0, rows, cols, ld);
    }

    @Override
    public void upload(long[] src, DeviceArray dst) {
        buf(dst).upload(src, 0, src.length, 0);
    }

    @Override
    public void download(DeviceArray src, long[] dst) {
        buf(src).download(0, dst, 0, dst.length);
    }

    @Override
    public void upload(int[] src, DeviceArray dst) {
        buf(dst).upload(src, 0, src.length, 0);
    }

    @Override
    public void download(DeviceArray src, int[] dst) {
        buf(src).download(0, dst, 0, dst.length);
    }

    @Override
    public double readDouble(DeviceArray doubles) {
        double[] v = new double[1];
        buf(doubles).download(0, v, 0, 1);
        return v[0];
    }

    @Override
    public long readLong(DeviceArray longs) {
        long[] v = new long[1];
        buf(longs).download(0, v, 0, 1);
        return v[0];
    }

    @Override
    public int readInt(DeviceArray ints) {
        int[] v = new int[1];
        buf(ints).download(0, v, 0, 1);
        return v[0];
    }

    @Override
    public void zero(DeviceArray a) {
        buf(a).zero(a.bytes());
    }

    @Override
    public void synchronize() {
        ctx.synchronize();
    }

    @Override
    public IntReadback intReadback() {
        PinnedBuffer host = new PinnedBuffer(ctx, 8);
        owned.add(host);
        CudaEvent done = new CudaEvent(ctx, false);
        owned.add(done);
        return new IntReadback() {
            @Override
            public void request(DeviceArray ints) {
                DeviceBuffer b = buf(ints).require(4, "int readback");
                ctx.makeCurrent();
                check(JCudaDriver.cuMemcpyDtoHAsync(host.pointer(), b.pointer(), 4, null), "cuMemcpyDtoHAsync(4 bytes)");
                done.record();
            }

            @Override
            public int await() {
                done.synchronize();
                return host.buffer().getInt(0);
            }
        };
    }

    @Override
    public DeviceClock clock(int marks) {
        CudaEvent[] events = new CudaEvent[marks];
        for (int i = 0; i < marks; i++) {
            events[i] = new CudaEvent(ctx, true);
            owned.add(events[i]);
        }
        return new DeviceClock() {
            @Override
            public void mark(int i) {
                events[i].record();
            }

            @Override
            public double elapsedMs(int from, int to) {
                return events[to].elapsedMsSince(events[from]);
            }
        };
    }

    @Override
    public void toOperand(DeviceArray src, long count, DeviceArray dst) {
        if (src == dst) {
            return;
        }
        if (precision == GemmPrecision.BF16) {
            enc.convertToBf16(buf(src), count, buf(dst));
        } else {
            buf(dst).copyFrom(buf(src), 4 * count);
        }
    }

    @Override
    public void totalVariance(DeviceArray x, int rows, int ld, DeviceArray out) {
        train.totalVariance(buf(x), rows, ld, buf(out));
    }

    @Override
    public void prepareInput(DeviceArray x, DeviceArray bDec, int rows, int ld, DeviceArray xc) {
        enc.prepareInput(buf(x), buf(bDec), rows, ld, precision, buf(xc));
    }

    @Override
    public void selectTopK(DeviceArray xc, DeviceArray w, DeviceArray bias, int rows, int n, int ld, int k, DeviceArray map,
                           DeviceArray outIdx, DeviceArray outVal) {
        enc.selectTopK(precision, buf(xc), buf(w), buf(bias), rows, n, ld, k, buf(map), buf(outIdx), buf(outVal), ws);
    }

    @Override
    public void gatherOperandRows(DeviceArray src, int ld, DeviceArray ids, int count, DeviceArray dst) {
        // gather_rows moves rows of floats; a row of ld operands is ld * operandBytes / 4 of them
        int rowFloats = ld * precision.operandBytes() / 4;
        long srcRows = src.bytes() / (4L * rowFloats);
        auxk.gatherRows(buf(src), (int) srcRows, rowFloats, buf(ids), count, buf(dst));
    }

    @Override
    public void gatherValues(DeviceArray src, DeviceArray ids, int count, DeviceArray dst) {
        auxk.gatherValues(buf(src), buf(ids), count, buf(dst));
    }

    @Override
    public void decode(DeviceArray idx, DeviceArray val, int rows, int k, DeviceArray w, int n, int ld, DeviceArray bias,
                       DeviceArray out) {
        dec.decode(null, k, buf(idx), buf(val), rows, rows * k, buf(w), n, ld, buf(bias), buf(out));
    }

    @Override
    public void residualGradient(DeviceArray x, DeviceArray xHat, DeviceArray auxHat, int rows, int ld, DeviceArray totalVar,
                                 double factor, DeviceArray grad, DeviceArray sse) {
        train.residualGradient(buf(x), buf(xHat), buf(auxHat), (long) rows * ld, buf(totalVar), factor, buf(grad), buf(sse));
    }

    @Override
    public void gatherDots(DeviceArray idx, int rows, int k, DeviceArray dOut, DeviceArray w, int n, int ld, DeviceArray dValues) {
        bwd.gatherDots(null, k, buf(idx), rows * k, buf(dOut), rows, buf(w), n, ld, buf(dValues));
    }

    @Override
    public void maskNonPositive(DeviceArray val, DeviceArray d, int nnz) {
        train.maskNonPositive(buf(val), buf(d), nnz);
    }

    @Override
    public DeviceGroups groupByLatent(DeviceArray idx, int nnz, int n) {
        return new Groups(bwd.groupByLatent(buf(idx), nnz, n, ws));
    }

    @Override
    public void scatterOuter(DeviceGroups groups, int rows, int k, DeviceArray coef, DeviceArray src, DeviceArray shift, int ld,
                             DeviceArray dW, DeviceArray dBias) {
        bwd.scatterOuter(((Groups) groups).groups(), null, k, buf(coef), buf(src), rows, buf(shift), ld, buf(dW), buf(dBias));
    }

    @Override
    public void addColumnSums(DeviceArray m, int rows, int ld, DeviceArray out) {
        train.addColumnSums(buf(m), rows, ld, buf(out));
    }

    @Override
    public void subtractRowCombination(DeviceArray coef, DeviceArray w, int n, int ld, DeviceArray out) {
        train.subtractRowCombination(buf(coef), buf(w), n, ld, buf(out));
    }

    @Override
    public void codeStats(DeviceArray idx, DeviceArray val, int nnz, DeviceArray positive, DeviceArray fired, DeviceArray selected) {
        train.codeStats(buf(idx), buf(val), nnz, buf(positive), fired == null ? null : buf(fired), buf(selected), (int) (selected.bytes() / 4));
    }

    @Override
    public void adam(DeviceArray p, DeviceArray g, DeviceArray m, DeviceArray v, long count, AdamStep hp, DeviceArray operandShadow) {
        adam.step(buf(p), buf(g), buf(m), buf(v), count, hp, buf(operandShadow));
    }

    @Override
    public void adamDecoderRows(DeviceArray w, DeviceArray g, DeviceArray m, DeviceArray v, int rows, int ld, AdamStep hp) {
        adam.decoderStep(buf(w), buf(g), buf(m), buf(v), rows, ld, hp);
    }

    @Override
    public void deadUpdate(DeviceArray since, DeviceArray selected, int n, long rows, long deadAfter, DeviceArray deadIds,
                           DeviceArray numDead) {
        train.deadUpdate(buf(since), buf(selected), n, rows, deadAfter, buf(deadIds), buf(numDead));
    }

    @Override
    public void reviveBias(DeviceArray bEnc, DeviceArray sincePositive, DeviceArray fired, int n, long rows, long after, DeviceArray val,
                           int nnz, double rate) {
        train.reviveBias(buf(bEnc), buf(sincePositive), buf(fired), n, rows, after, buf(val), nnz, rate);
    }

    @Override
    public void reviveEncoder(DeviceArray wEnc, DeviceArray wEncOp, DeviceArray x, DeviceArray bDec, DeviceArray sincePositive,
                              DeviceArray fired, int rows, int n, int ld, long after, double growth, DeviceArray u, DeviceArray stats,
                              DeviceArray scalars) {
        train.reviveEncoder(buf(wEnc), wEncOp == wEnc ? null : buf(wEncOp), buf(x), buf(bDec), buf(sincePositive), buf(fired), rows, n, ld,
                after, growth, buf(u), buf(stats), buf(scalars));
    }

    @Override
    public void checkFinite(DeviceArray sse, DeviceArray sseAux, long step, DeviceArray firstBad) {
        train.checkFinite(buf(sse), buf(sseAux), step, buf(firstBad));
    }

    @Override
    public void close() {
        RuntimeException first = null;
        try {
            ctx.synchronize();
        } catch (RuntimeException e) {
            first = e;
        }
        for (int i = owned.size() - 1; i >= 0; i--) {
            try {
                owned.get(i).close();
            } catch (Exception e) {
                if (first == null) {
                    first = e instanceof RuntimeException r ? r : new IllegalStateException(e);
                }
            }
        }
        owned.clear();
        arrayBytes = 0;
        try {
            ws.close();
        } catch (RuntimeException e) {
            if (first == null) {
                first = e;
            }
        }
        if (first != null) {
            throw first;
        }
    }
}
