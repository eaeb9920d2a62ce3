package org.saeforge.core.model;

import java.nio.file.Path;
import java.util.Arrays;
import org.saeforge.core.io.SaeFiles;
import org.saeforge.core.kernels.Kernels;
import org.saeforge.core.kernels.cpu.CpuKernels;
import org.saeforge.core.tensor.FloatMatrix;
import org.saeforge.core.tensor.SparseCodes;

/**
 * A sparse autoencoder: {@code pre = (x - bDec) · W_enc + bEnc}, an activation (TopK, JumpReLU, ReLU) to sparse
 * codes z, and {@code x̂ = z · wDec + bDec}.
 *
 * <p>The encoder is stored latent-major as {@code wEncT [numLatents, dIn]} (row j is latent j's encoder
 * direction, the transpose of SAELens {@code W_enc [d_in, d_sae]}): the sparse backward then updates whole
 * contiguous rows, one per active latent. Exporters transpose it back. The arrays are mutable and shared with
 * the trainer; treat a loaded model as read-only.
 */
public final class SparseAutoencoder {
    private final SaeConfig config;
    private final FloatMatrix wEncT;
    private final float[] bEnc;
    private final FloatMatrix wDec;
    private final float[] bDec;
    private final float[] threshold;

    public SparseAutoencoder(SaeConfig config, FloatMatrix wEncT, float[] bEnc, FloatMatrix wDec, float[] bDec,
                             float[] threshold) {
        int n = config.numLatents();
        int d = config.dIn();
        wEncT.requireShape(n, d, "wEncT");
        wDec.requireShape(n, d, "wDec");
        requireLength(bEnc, n, "bEnc");
        requireLength(bDec, d, "bDec");
        if (config.architecture().usesThreshold()) {
            requireLength(threshold, n, "threshold");
        } else if (threshold != null) {
            throw new IllegalArgumentException(config.architecture().cliName() + " SAE takes no threshold");
        }
        this.config = config;
        this.wEncT = wEncT;
        this.bEnc = bEnc;
        this.wDec = wDec;
        this.bDec = bDec;
        this.threshold = threshold;
    }

    /** A zero-initialised SAE of the given configuration (thresholds zero where the architecture has them). */
    public static SparseAutoencoder zeros(SaeConfig config) {
        int n = config.numLatents();
        int d = config.dIn();
        return new SparseAutoencoder(config, new FloatMatrix(n, d), new float[n], new FloatMatrix(n, d), new float[d],
                config.architecture().usesThreshold() ? new float[n] : null);
    }

    private static void requireLength(float[] a, int n, String what) {
        if (a == null || a.length != n) {
            throw new IllegalArgumentException(what + ": expected length " + n + ", got " + (a == null ? "null" : a.length));
        }
    }

    /** Loads a SAELens v6 or sparsify directory (detected from its files). */
    public static SparseAutoencoder load(Path dir) {
        return SaeFiles.load(dir);
    }

    /** Sparse codes of the rows of x, on a single-threaded CPU backend. */
    public SparseCodes encode(FloatMatrix x) {
        try (Kernels kernels = new CpuKernels(1)) {
            return encode(x, kernels);
        }
    }

    /**
     * Sparse codes of the given rows (each of length {@link #dIn()}), on a single-threaded CPU backend: the
     * convenience entry point for tools that hold activations as plain arrays.
     *
     * <pre>{@code
     * SparseAutoencoder sae = SparseAutoencoder.load(Path.of("run/saelens"));
     * SparseCodes codes = sae.encode(new float[][] {embedding});
     * for (int p = codes.rowStart(0); p < codes.rowEnd(0); p++) {
     *     System.out.println("latent " + codes.indices()[p] + " = " + codes.values()[p]);
     * }
     * }</pre>
     */
    public SparseCodes encode(float[][] rows) {
        int d = config.dIn();
        FloatMatrix x = new FloatMatrix(rows.length, d);
        for (int r = 0; r < rows.length; r++) {
            if (rows[r] == null || rows[r].length != d) {
                throw new IllegalArgumentException("encode input row " + r + ": expected length " + d + ", got "
                        + (rows[r] == null ? "null" : rows[r].length));
            }
            System.arraycopy(rows[r], 0, x.data(), r * d, d);
        }
        return encode(x);
    }

    public SparseCodes encode(FloatMatrix x, Kernels kernels) {
        x.requireCols(config.dIn(), "encode input");
        SparseCodes codes = newCodes(x.rows());
        kernels.encode(x, this, codes, null);
        return codes;
    }

    /** Codes buffer sized for this SAE's activation (k per row for TopK). */
    public SparseCodes newCodes(int rows) {
        return config.architecture().usesK()
                ? SparseCodes.fixedK(rows, config.numLatents(), config.k())
                : new SparseCodes(rows, config.numLatents(), rows * 16);
    }

    /** Reconstructions {@code x̂ = z · wDec + bDec}. */
    public FloatMatrix decode(SparseCodes codes) {
        try (Kernels kernels = new CpuKernels(1)) {
            return decode(codes, kernels);
        }
    }

    public FloatMatrix decode(SparseCodes codes, Kernels kernels) {
        FloatMatrix out = new FloatMatrix(codes.rows(), config.dIn());
        kernels.decode(codes, wDec, bDec, out);
        return out;
    }

    /** Encode then decode. */
    public FloatMatrix reconstruct(FloatMatrix x, Kernels kernels) {
        return decode(encode(x, kernels), kernels);
    }

    public SaeConfig config() {
        return config;
    }

    public int dIn() {
        return config.dIn();
    }

    public int numLatents() {
        return config.numLatents();
    }

    /** Encoder, latent-major {@code [numLatents, dIn]}. */
    public FloatMatrix wEncT() {
        return wEncT;
    }

    /** The SAELens-layout encoder {@code W_enc [dIn, numLatents]} as a new matrix. */
    public FloatMatrix wEnc() {
        return wEncT.transpose();
    }

    public float[] bEnc() {
        return bEnc;
    }

    public FloatMatrix wDec() {
        return wDec;
    }

    public float[] bDec() {
        return bDec;
    }

    /** Per-latent thresholds (JumpReLU, BatchTopK) or null. */
    public float[] threshold() {
        return threshold;
    }

    /** A deep copy (weights included). */
    public SparseAutoencoder copy() {
        return new SparseAutoencoder(config, wEncT.copy(), bEnc.clone(), wDec.copy(), bDec.clone(),
                threshold == null ? null : threshold.clone());
    }

    /** True when every weight is bit-identical to the other SAE's and the configs are equal. */
    public boolean sameWeights(SparseAutoencoder o) {
        return config.equals(o.config)
                && Arrays.equals(wEncT.data(), 0, wEncT.size(), o.wEncT.data(), 0, o.wEncT.size())
                && Arrays.equals(wDec.data(), 0, wDec.size(), o.wDec.data(), 0, o.wDec.size())
                && Arrays.equals(bEnc, o.bEnc) && Arrays.equals(bDec, o.bDec) && Arrays.equals(threshold, o.threshold);
    }
}
