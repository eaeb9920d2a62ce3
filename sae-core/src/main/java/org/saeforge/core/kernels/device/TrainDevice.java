package org.saeforge.core.kernels.device;

import org.saeforge.core.kernels.AdamStep;

/**
 * The operations of a device-resident TopK training step ({@link TopKDeviceModel}) on arrays that stay on the device.
 * Operations are enqueued in order on one work queue and may return before they complete; only the methods that hand a
 * value to the host ({@code read*}, {@code download*}, {@link IntReadback#await}, {@link DeviceClock#elapsedMs},
 * {@link #synchronize}) wait. Implementations: the CUDA device ({@code CudaTrainDevice}) and, in tests, a host emulation
 * that defines each operation's result.
 *
 * <p>Matrices with {@code cols} columns are stored as {@code rows x ld(cols)} floats, the padding columns zero; a batch of
 * codes with k entries per row is {@code idx/val [rows x k]}, entries of row r at {@code r*k .. (r+1)*k}. Encoder
 * operands ({@link #operands}) hold {@link #operandBytes()} bytes per element: the precision of the encoder product.
 */
public interface TrainDevice extends AutoCloseable {

    /** The device, for messages (e.g. {@code NVIDIA H100 80GB HBM3}). */
    String description();

    /** Which build of the encoder kernels runs (e.g. {@code wgmma (sm_90a)}, {@code mma.sync}); "host" off the GPU. */
    default String encoderKernels() {
        return "host";
    }

    /** Leading dimension of a matrix with {@code cols} columns. */
    int ld(int cols);

    /** Bytes per encoder operand element: 4 (fp32, tf32) or 2 (bf16). */
    int operandBytes();

    /** {@code {free, total}} device memory in bytes, now. */
    long[] memoryInfo();

    /** Device memory allocated through this device so far, in bytes. */
    long allocatedBytes();

    DeviceArray floats(long count, String what);

    DeviceArray ints(long count, String what);

    DeviceArray longs(long count, String what);

    DeviceArray doubles(long count, String what);

    /** Encoder operand elements ({@link #operandBytes()} each). */
    DeviceArray operands(long count, String what);

    /** The largest k (and AuxK k) the top-k selection supports. */
    int maxK();

    /** The shared scratch {@link #reserveScratch} allocates for these shapes. */
    DeviceMemoryPlan scratchPlan(int rows, int numLatents, int ld, int kMax, int kAuxMax);

    /** Reserves the scratch the encoder and the grouping need for these shapes, so that no step allocates. */
    void reserveScratch(int rows, int numLatents, int ld, int kMax, int kAuxMax);

    // ---- transfers (synchronous)

    /** Uploads {@code rows x cols} row-major floats into rows of ld floats, zeroing the padding. */
    void uploadRows(float[] src, int rows, int cols, int ld, DeviceArray dst);

    void downloadRows(DeviceArray src, int rows, int cols, int ld, float[] dst);

    void upload(long[] src, DeviceArray dst);

    void download(DeviceArray src, long[] dst);

    void upload(int[] src, DeviceArray dst);

    void download(DeviceArray src, int[] dst);

    double readDouble(DeviceArray doubles);

    long readLong(DeviceArray longs);

    int readInt(DeviceArray ints);

    /** Sets every byte to zero (enqueued). */
    void zero(DeviceArray a);

    /** Waits for all enqueued work. */
    void synchronize();

    /** A readback of one int (one request in flight at a time). */
    IntReadback intReadback();

    /** A clock with {@code marks} marks. */
    DeviceClock clock(int marks);

    // ---- encoder

    /** {@code dst = operand(src)} over count floats (a copy when operands are fp32). */
    void toOperand(DeviceArray src, long count, DeviceArray dst);

    /** {@code out[0] = Σ_r Σ_c (x[r][c] − mean_c)²} in double over a {@code rows x ld} batch. */
    void totalVariance(DeviceArray x, int rows, int ld, DeviceArray out);

    /** {@code xc = operand(x − bDec)} over {@code rows x ld}. */
    void prepareInput(DeviceArray x, DeviceArray bDec, int rows, int ld, DeviceArray xc);

    /**
     * For each row of {@code pre = xc · wᵀ + bias} ({@code rows x n}): the k largest values ReLU'd, descending, equal
     * values by the lower column, into {@code outIdx/outVal [rows x k]}; columns mapped through {@code map} (ints) when
     * not null.
     */
    void selectTopK(DeviceArray xc, DeviceArray w, DeviceArray bias, int rows, int n, int ld, int k, DeviceArray map,
                    DeviceArray outIdx, DeviceArray outVal);

    /** {@code dst[j] = src[ids[j]]} for j &lt; count, rows of ld operand elements. */
    void gatherOperandRows(DeviceArray src, int ld, DeviceArray ids, int count, DeviceArray dst);

    /** {@code dst[j] = src[ids[j]]} for j &lt; count (floats). */
    void gatherValues(DeviceArray src, DeviceArray ids, int count, DeviceArray dst);

    // ---- reconstruction and backward

    /** {@code out[r] = Σ_p val[p] · w[idx[p]] + bias} over the k entries of row r. */
    void decode(DeviceArray idx, DeviceArray val, int rows, int k, DeviceArray w, int n, int ld, DeviceArray bias,
                DeviceArray out);

    /**
     * The loss gradient of a reconstruction: {@code e = xHat − x} (or, with {@code auxHat}, {@code e = auxHat − (x − xHat)});
     * {@code grad = (float)(factor · 2 / max(totalVar[0], 1e-30)) · e}; {@code sse[0] = Σ e²} (double).
     */
    void residualGradient(DeviceArray x, DeviceArray xHat, DeviceArray auxHat, int rows, int ld, DeviceArray totalVar,
                          double factor, DeviceArray grad, DeviceArray sse);

    /** {@code dValues[p] = dOut[row(p)] · w[idx[p]]} for the rows x k entries. */
    void gatherDots(DeviceArray idx, int rows, int k, DeviceArray dOut, DeviceArray w, int n, int ld, DeviceArray dValues);

    /** {@code d[p] = 0} where {@code val[p] <= 0} (ReLU passes no gradient there). */
    void maskNonPositive(DeviceArray val, DeviceArray d, int nnz);

    /** Groups the nnz entries of idx by latent. */
    DeviceGroups groupByLatent(DeviceArray idx, int nnz, int n);

    /**
     * For every entry p (latent j, row r): {@code dW[j] += coef[p] · (src[r] − shift)} and {@code dBias[j] += coef[p]};
     * shift and dBias may be null. Each latent's entries are summed in row order, then added.
     */
    void scatterOuter(DeviceGroups groups, int rows, int k, DeviceArray coef, DeviceArray src, DeviceArray shift, int ld,
                      DeviceArray dW, DeviceArray dBias);

    /** {@code out[c] += (float) Σ_r m[r][c]} (summed in double). */
    void addColumnSums(DeviceArray m, int rows, int ld, DeviceArray out);

    /** {@code out[c] −= (float) Σ_j coef[j] · w[j][c]} over the n rows of w (summed in double). */
    void subtractRowCombination(DeviceArray coef, DeviceArray w, int n, int ld, DeviceArray out);

    /**
     * Over nnz entries: {@code positive[0] += #(val > 0)} (longs), {@code fired[j] += #(entries of latent j with val > 0)}
     * and {@code selected[j] += #(entries of latent j)} (ints).
     */
    void codeStats(DeviceArray idx, DeviceArray val, int nnz, DeviceArray positive, DeviceArray fired, DeviceArray selected);

    // ---- optimiser and bookkeeping

    /** One Adam step over count floats; also writes the updated parameters to {@code operandShadow} when not null. */
    void adam(DeviceArray p, DeviceArray g, DeviceArray m, DeviceArray v, long count, AdamStep hp, DeviceArray operandShadow);

    /** The decoder step per row of {@code rows x ld}: remove the component of g parallel to w, Adam, renormalise w. */
    void adamDecoderRows(DeviceArray w, DeviceArray g, DeviceArray m, DeviceArray v, int rows, int ld, AdamStep hp);

    /**
     * Dead-latent counters (longs, rows since each latent was last selected): {@code since[j] = selected[j] > 0 ? 0 :
     * since[j] + rows}; then the latents with {@code since > deadAfter}, ascending, into deadIds, and their number into
     * {@code numDead[0]}.
     */
    void deadUpdate(DeviceArray since, DeviceArray selected, int n, long rows, long deadAfter, DeviceArray deadIds,
                    DeviceArray numDead);

    /**
     * Revival: first the counters {@code sincePositive[j] = fired[j] > 0 ? 0 : sincePositive[j] + rows} (longs), then
     * {@code bEnc[j] = min(cap, bEnc[j] + rate · mean)} for every latent silent by those counters and {@code fired}
     * ({@link org.saeforge.core.kernels.Revival#silent}, positive activations per latent in the batch of {@code rows}
     * rows) with {@code bEnc[j] < cap}, where mean is the mean of the positive entries of {@code val[0..nnz)} (summed in double) and
     * {@code cap = Revival.CAP · mean} (as {@link org.saeforge.core.kernels.Revival}) (floats; no bias changes when none is positive, rate is 0 or after is 0).
     */
    void reviveBias(DeviceArray bEnc, DeviceArray sincePositive, DeviceArray fired, int n, long rows, long after, DeviceArray val,
                    int nnz, double rate);

    /**
     * Revival's encoder step ({@link org.saeforge.core.kernels.Revival#reviveEncoder}, with {@code d = ld}: the padding
     * of x, bDec and the rows is 0) on {@code wEnc [n x ld]} for the latents silent by {@code sincePositive} and the
     * batch's positive activations per latent {@code fired} ({@link org.saeforge.core.kernels.Revival#silent}), given
     * the batch {@code x [rows x ld]} and {@code bDec}; {@code wEncOp} (the encoder's operand copy, or the same array)
     * gets the changed rows too; rows grow by the factor {@code 1 + growth} at most. Scratch: {@code u} floats[ld],
     * {@code stats} doubles[2n], {@code scalars} doubles[2]. Nothing changes when after is 0.
     */
    void reviveEncoder(DeviceArray wEnc, DeviceArray wEncOp, DeviceArray x, DeviceArray bDec, DeviceArray sincePositive, DeviceArray fired,
                       int rows, int n, int ld, long after, double growth, DeviceArray u, DeviceArray stats, DeviceArray scalars);

    /**
     * When {@code sse[0]} or {@code sseAux[0]} is not finite and {@code firstBad[0] == 0}: {@code firstBad[0] = step + 1}
     * (longs; 0 means every checked step was finite).
     */
    void checkFinite(DeviceArray sse, DeviceArray sseAux, long step, DeviceArray firstBad);

    /** Frees everything allocated through this device. */
    @Override
    void close();
}
