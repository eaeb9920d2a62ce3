package org.saeforge.train.dictionary;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import org.saeforge.core.SaeException;
import org.saeforge.core.data.ActivationSource;
import org.saeforge.core.data.BadRowPolicy;
import org.saeforge.core.data.Modality;
import org.saeforge.core.data.RowMetadata;
import org.saeforge.core.kernels.Kernels;
import org.saeforge.core.model.SparseAutoencoder;
import org.saeforge.core.tensor.FloatMatrix;
import org.saeforge.core.tensor.SparseCodes;

/**
 * Builds a feature dictionary in one streaming pass over an activation source: rows are read and encoded batch by
 * batch with {@link Kernels#encode}, and every fired latent (activation &gt; 0) updates per-latent accumulators —
 * firing counts, sums, maxima, a log-spaced activation histogram, per-modality counts and energies, a bounded top-N
 * heap and, for rows that share a source id, the co-firing sets of {@link BridgeTracker}. Reconstruction metrics
 * (FVU, MSE, L0) come from the same pass. Afterwards the nearest latents by decoder cosine are found with a tiled
 * matrix product ({@link TopCosine}) and, when a vocabulary is given, labels.
 *
 * <p>Memory does not grow with the number of rows: it is {@code O(numLatents · (topN + histogram bins))} plus one
 * batch, one cosine tile and the bridge budget of {@link DictionaryConfig#bridgeMemoryBytes()} — about 43 MB of
 * accumulators for 65,536 latents with the defaults, besides the SAE itself.
 */
public final class DictionaryBuilder {
    /** The activation histogram covers log10(z) in [-4, 4): eight decades, four bins each. */
    public static final double HIST_LOG10_MIN = -4;
    public static final double HIST_LOG10_MAX = 4;
    public static final int HIST_BINS = 32;

    private final DictionaryConfig config;
    private final Kernels kernels;
    private final DictionaryListener listener;

    public DictionaryBuilder(DictionaryConfig config, Kernels kernels, DictionaryListener listener) {
        this.config = config;
        this.kernels = kernels;
        this.listener = listener == null ? new DictionaryListener() { } : listener;
    }

    /**
     * @param metadata row metadata aligned with the source (usually {@code source.metadata()}), or null: then
     *                 modality scores, bridges, example metadata and example labels are absent
     * @param labels   a vocabulary to label decoder directions with, or null (labels then come from the top
     *                 examples' metadata labels when there are any)
     */
    public DictionaryResult build(SparseAutoencoder sae, ActivationSource source, RowMetadata metadata, LabelVocabulary labels) {
        if (source.dIn() != sae.dIn()) {
            throw new SaeException(source.path() + ": rows have width " + source.dIn() + " but the SAE expects d_in " + sae.dIn());
        }
        long total = config.maxRows() > 0 ? Math.min(config.maxRows(), source.numRows()) : source.numRows();
        if (total == 0) {
            throw new SaeException(source.path() + ": no rows to build a dictionary from");
        }
        Pass pass = new Pass(sae, source, metadata);
        listener.onStart(total, String.format("%s: %d rows x %d (%s); %s SAE, %d latents%s; backend %s",
                source.path().getFileName(), total, sae.dIn(), source.dtype(), sae.config().architecture().cliName(),
                sae.numLatents(), sae.config().architecture().usesK() ? ", k=" + sae.config().k() : "", kernels.name()));
        long t0 = System.nanoTime();
        for (long first = 0; first < total; first += config.batchSize()) {
            int count = (int) Math.min(config.batchSize(), total - first);
            pass.batch(first, count);
            listener.onRows(first + count);
        }
        listener.onPassDone(total, (System.nanoTime() - t0) / 1e9);
        if (pass.rows == 0) {
            throw new SaeException(source.path() + ": no finite rows (" + pass.skipped + " rows hold NaN or infinity)");
        }
        if (pass.skipped > 0) {
            listener.onInfo("skipped " + pass.skipped + " rows holding NaN or infinity");
        }

        listener.onInfo("finding the " + config.nearest() + " nearest latents by decoder cosine");
        TopCosine nearest = TopCosine.compute(sae.wDec(), sae.wDec(), Math.min(config.nearest(), sae.numLatents() - 1), true, kernels);
        org.saeforge.core.io.FeatureDictionary.Label[] directionLabels = null;
        if (labels != null) {
            listener.onInfo("labelling decoder directions with " + labels.size() + " text embeddings");
            directionLabels = labels.label(sae, kernels);
        }
        BridgeTracker.Counts bridge = null;
        if (pass.bridge != null) {
            BridgeTracker.Counts c = pass.bridge.finish();
            if (c.pairs() >= 2) {
                bridge = c;
            } else {
                listener.onInfo("no co-firing lift: " + c.pairs() + " matched image-text source ids (need at least 2)");
            }
        }
        return new DictionaryResult(config, sae, source.path(), total, weightsSha256(sae), pass.stats, pass.top, pass.metrics(),
                nearest, bridge, metadata, directionLabels, labels);
    }

    /**
     * SHA-256 over the float32 little-endian bytes of wDec, wEncT (latent-major), bEnc, bDec and the threshold when
     * present, in that order: identifies the weights whatever file format they were loaded from.
     */
    static String weightsSha256(SparseAutoencoder sae) {
        MessageDigest md;
        try {
            md = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("the JDK has no SHA-256", e);
        }
        ByteBuffer buf = ByteBuffer.allocate(1 << 16).order(ByteOrder.LITTLE_ENDIAN);
        float[][] parts = {sae.wDec().data(), sae.wEncT().data(), sae.bEnc(), sae.bDec(), sae.threshold()};
        int[] lengths = {sae.wDec().size(), sae.wEncT().size(), sae.bEnc().length, sae.bDec().length,
                sae.threshold() == null ? 0 : sae.threshold().length};
        for (int p = 0; p < parts.length; p++) {
            for (int i = 0; i < lengths[p]; ) {
                buf.clear();
                int n = Math.min(lengths[p] - i, buf.capacity() / 4);
                buf.asFloatBuffer().put(parts[p], i, n);
                buf.limit(n * 4);
                md.update(buf);
                i += n;
            }
        }
        StringBuilder hex = new StringBuilder();
        for (byte b : md.digest()) {
            hex.append(String.format("%02x", b));
        }
        return hex.toString();
    }

    /** The state of the streaming pass. */
    private final class Pass {
        private final SparseAutoencoder sae;
        private final ActivationSource source;
        private final RowMetadata metadata;
        private final boolean useModality;
        private final int d;
        private final FloatMatrix buf;
        private final FloatMatrix xHat;
        private final long[] rowIds;
        private final SparseCodes codes;
        final LatentStats stats;
        final TopExamples top;
        final BridgeTracker bridge;
        private final double[] sum;
        private final double[] sumSq;
        long rows;
        long skipped;
        private double sse;
        private long positive;

        Pass(SparseAutoencoder sae, ActivationSource source, RowMetadata metadata) {
            this.sae = sae;
            this.source = source;
            this.metadata = metadata;
            this.useModality = metadata != null && metadata.hasModality();
            this.d = sae.dIn();
            int b = config.batchSize();
            this.buf = new FloatMatrix(b, d);
            this.xHat = new FloatMatrix(b, d);
            this.rowIds = new long[b];
            this.codes = sae.newCodes(b);
            this.stats = new LatentStats(sae.numLatents(), HIST_LOG10_MIN, HIST_LOG10_MAX, HIST_BINS);
            this.top = new TopExamples(sae.numLatents(), config.topN());
            this.bridge = useModality && metadata.hasSourceId() ? new BridgeTracker(sae.numLatents(), config.bridgeMemoryBytes()) : null;
            this.sum = new double[d];
            this.sumSq = new double[d];
        }

        void batch(long first, int count) {
            float[] x = buf.data();
            source.readRows(first, count, x, 0);
            int m = 0;
            for (int r = 0; r < count; r++) {
                if (!BadRowPolicy.finiteRow(x, r * d, d)) {
                    if (config.badRows() == BadRowPolicy.FAIL) {
                        throw new SaeException(source.path() + ": row " + (first + r) + " holds NaN or infinity (--on-bad-rows fail)");
                    }
                    skipped++;
                    continue;
                }
                if (m != r) {
                    System.arraycopy(x, r * d, x, m * d, d);
                }
                rowIds[m++] = first + r;
            }
            if (m == 0) {
                return;
            }
            FloatMatrix xs = buf.view(m);
            kernels.encode(xs, sae, codes, null);
            FloatMatrix xh = xHat.view(m);
            kernels.decode(codes, sae.wDec(), sae.bDec(), xh);
            accumulateReconstruction(x, xh.data(), m);
            int[] idx = codes.indices();
            float[] val = codes.values();
            for (int r = 0; r < m; r++) {
                long row = rowIds[r];
                Modality mod = useModality ? metadata.modality(row) : null;
                if (mod == null) {
                    mod = Modality.UNKNOWN;
                }
                stats.countRow(mod);
                int start = codes.rowStart(r);
                int end = codes.rowEnd(r);
                for (int p = start; p < end; p++) {
                    float v = val[p];
                    if (v > 0f) {
                        stats.add(idx[p], v, mod);
                        top.offer(idx[p], v, row);
                        positive++;
                    }
                }
                if (bridge != null) {
                    bridge.add(metadata.sourceId(row), mod, idx, val, start, end);
                }
            }
            rows += m;
        }

        private void accumulateReconstruction(float[] x, float[] xh, int m) {
            for (int r = 0; r < m; r++) {
                int o = r * d;
                for (int i = 0; i < d; i++) {
                    double v = x[o + i];
                    double e = v - xh[o + i];
                    sse += e * e;
                    sum[i] += v;
                    sumSq[i] += v * v;
                }
            }
        }

        ReconstructionMetrics metrics() {
            double sst = 0;
            for (int i = 0; i < d; i++) {
                sst += sumSq[i] - sum[i] * sum[i] / rows;
            }
            return new ReconstructionMetrics(sse / Math.max(sst, 1e-30), sse / ((double) rows * d), (double) positive / rows, rows,
                    skipped);
        }
    }

    /** FVU, MSE and L0 of the pass (the fields of {@link org.saeforge.train.EvalMetrics} without densities). */
    record ReconstructionMetrics(double fvu, double mse, double l0, long rows, long skippedRows) {
    }
}
