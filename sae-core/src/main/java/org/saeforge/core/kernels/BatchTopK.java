package org.saeforge.core.kernels;

import java.util.Arrays;
import java.util.Map;
import org.saeforge.core.model.Architecture;
import org.saeforge.core.model.SaeConfig;
import org.saeforge.core.model.SparseAutoencoder;
import org.saeforge.core.tensor.FloatMatrix;
import org.saeforge.core.tensor.SparseCodes;

/**
 * Batch-level top-k selection ({@link Kernels#encodeBatchTopK}) composed from a backend's own per-row encoders, so
 * that every backend gets it at the speed of its encoder.
 *
 * <p>Exact, with one encoder pass over the batch in the common case: each row first keeps its {@code cap} largest
 * ReLU'd pre-activations (a per-row top-k), and the batch threshold τ is the kTotal-th largest of those candidates.
 * The true threshold is at least τ, and a row whose smallest candidate is below τ already holds every entry ≥ τ. Only
 * the rows whose candidates are all ≥ τ ("saturated", rare with cap = 4 × kTotal / rows) may hold more: they are
 * encoded again keeping every pre-activation ≥ τ. The union then holds every entry ≥ τ, from which the kTotal largest
 * are taken (ties to the lower row, then the lower latent).
 */
public final class BatchTopK {
    private BatchTopK() {
    }

    /** Per-row candidates kept in the first pass: four times the mean share of the batch budget, at least 8 more. */
    static int candidatesPerRow(int kTotal, int rows, int numLatents) {
        long perRow = (kTotal + (long) rows - 1) / rows;
        return (int) Math.min(numLatents, Math.max(4 * perRow, perRow + 8));
    }

    /** The selection described in {@link Kernels#encodeBatchTopK}, through {@code kernels.encode}. */
    public static void select(Kernels kernels, FloatMatrix x, SparseAutoencoder sae, int kTotal, SparseCodes out, AuxSelection aux) {
        checkBatchTopK(x, sae, kTotal, out);
        int rows = x.rows();
        int n = sae.numLatents();
        int d = sae.dIn();
        out.reset(rows);
        if (rows == 0) {
            return;
        }
        int cap = candidatesPerRow(kTotal, rows, n);
        boolean applyBDec = sae.config().applyBDecToInput();
        SparseAutoencoder perRowTopK = new SparseAutoencoder(new SaeConfig(Architecture.TOPK, d, n, cap, applyBDec, Map.of()),
                sae.wEncT(), sae.bEnc(), sae.wDec(), sae.bDec(), null);
        SparseCodes cand = SparseCodes.fixedK(rows, n, cap);
        kernels.encode(x, perRowTopK, cand, aux);
        float[] cv = cand.values();
        float tauCand = kthLargestPositive(cv, rows * cap, kTotal);

        int[] saturated = new int[rows];
        int numSat = 0;
        if (cap < n) {
            for (int r = 0; r < rows; r++) {
                float last = cv[r * cap + cap - 1];
                if (last > 0f && last >= tauCand) {
                    saturated[numSat++] = r;
                }
            }
        }
        SparseCodes full = null;
        int[] fullRowOf = new int[rows];
        Arrays.fill(fullRowOf, -1);
        if (numSat > 0) {
            FloatMatrix xs = new FloatMatrix(numSat, d);
            for (int i = 0; i < numSat; i++) {
                System.arraycopy(x.data(), x.offset(saturated[i]), xs.data(), i * d, d);
                fullRowOf[saturated[i]] = i;
            }
            float[] thr = new float[n];
            // keeps pre >= tauCand (pre > nextDown), or every positive pre when tauCand is 0
            Arrays.fill(thr, tauCand > 0f ? Math.nextDown(tauCand) : 0f);
            SparseAutoencoder above = new SparseAutoencoder(new SaeConfig(Architecture.JUMPRELU, d, n, 0, applyBDec, Map.of()),
                    sae.wEncT(), sae.bEnc(), sae.wDec(), sae.bDec(), thr);
            full = new SparseCodes(numSat, n, numSat * cap * 2);
            kernels.encode(xs, above, full, null);
        }

        // The union: every row's positive candidates, or its full list when saturated.
        int total = 0;
        for (int r = 0; r < rows; r++) {
            total += fullRowOf[r] >= 0 ? full.rowEnd(fullRowOf[r]) - full.rowStart(fullRowOf[r]) : cap;
        }
        float[] all = new float[total];
        int u = 0;
        for (int r = 0; r < rows; r++) {
            int fr = fullRowOf[r];
            if (fr >= 0) {
                for (int p = full.rowStart(fr); p < full.rowEnd(fr); p++) {
                    all[u++] = full.values()[p];
                }
            } else {
                for (int p = r * cap; p < (r + 1) * cap && cv[p] > 0f; p++) {
                    all[u++] = cv[p];
                }
            }
        }
        float tau = kthLargestPositive(all, u, kTotal);
        int above = 0;
        for (int i = 0; i < u; i++) {
            if (all[i] > tau) {
                above++;
            }
        }
        // entries equal to tau, taken in (row, latent) order; with tau = 0 only positives are kept
        int tiesLeft = tau > 0f ? kTotal - above : 0;

        long[] packed = new long[Math.max(cap, 16)];
        int nnz = 0;
        for (int r = 0; r < rows; r++) {
            int m = 0;
            int fr = fullRowOf[r];
            int from = fr >= 0 ? full.rowStart(fr) : r * cap;
            int to = fr >= 0 ? full.rowEnd(fr) : (r + 1) * cap;
            int[] idx = fr >= 0 ? full.indices() : cand.indices();
            float[] val = fr >= 0 ? full.values() : cv;
            for (int p = from; p < to; p++) {
                float v = val[p];
                if (v > 0f && v >= tau) {
                    if (m == packed.length) {
                        packed = Arrays.copyOf(packed, m * 2);
                    }
                    packed[m++] = ((long) idx[p] << 32) | (Float.floatToRawIntBits(v) & 0xFFFFFFFFL);
                }
            }
            Arrays.sort(packed, 0, m);
            out.ensureCapacity(nnz + m);
            for (int i = 0; i < m; i++) {
                float v = Float.intBitsToFloat((int) packed[i]);
                if (v == tau && tau > 0f) {
                    if (tiesLeft == 0) {
                        continue;
                    }
                    tiesLeft--;
                }
                out.indices()[nnz] = (int) (packed[i] >>> 32);
                out.values()[nnz] = v;
                nnz++;
            }
            out.setRowEnd(r, nnz);
        }
    }

    static void checkBatchTopK(FloatMatrix x, SparseAutoencoder sae, int kTotal, SparseCodes out) {
        x.requireCols(sae.dIn(), "encodeBatchTopK input x");
        if (out.numLatents() != sae.numLatents()) {
            throw new IllegalArgumentException("encodeBatchTopK output has " + out.numLatents() + " latents, SAE has " + sae.numLatents());
        }
        if (kTotal < 1) {
            throw new IllegalArgumentException("encodeBatchTopK: kTotal must be at least 1, got " + kTotal);
        }
    }

    /**
     * The k-th largest of the positive values among {@code v[0..n)}, or 0 when fewer than k are positive (every
     * positive value is then selected).
     */
    static float kthLargestPositive(float[] v, int n, int k) {
        float[] pos = new float[n];
        int m = 0;
        for (int i = 0; i < n; i++) {
            if (v[i] > 0f) {
                pos[m++] = v[i];
            }
        }
        if (m < k) {
            return 0f;
        }
        return select(pos, m, m - k);
    }

    /** The element of rank {@code rank} (0 = smallest) of {@code a[0..n)}, reordering a (iterative quickselect). */
    static float select(float[] a, int n, int rank) {
        int lo = 0;
        int hi = n - 1;
        while (lo < hi) {
            int mid = (lo + hi) >>> 1;
            // median of three as pivot: robust to sorted runs (per-row candidates arrive sorted)
            float p = median(a[lo], a[mid], a[hi]);
            int i = lo;
            int j = hi;
            while (i <= j) {
                while (a[i] < p) {
                    i++;
                }
                while (a[j] > p) {
                    j--;
                }
                if (i <= j) {
                    float t = a[i];
                    a[i] = a[j];
                    a[j] = t;
                    i++;
                    j--;
                }
            }
            if (rank <= j) {
                hi = j;
            } else if (rank >= i) {
                lo = i;
            } else {
                return a[rank];
            }
        }
        return a[rank];
    }

    private static float median(float a, float b, float c) {
        return Math.max(Math.min(a, b), Math.min(Math.max(a, b), c));
    }
}
