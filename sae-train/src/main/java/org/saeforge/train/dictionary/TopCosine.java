package org.saeforge.train.dictionary;

import org.saeforge.core.kernels.Kernels;
import org.saeforge.core.tensor.FloatMatrix;

/**
 * For every row of a query matrix, the m rows of a key matrix with the highest cosine, computed with
 * {@link Kernels#matmulNT} on tiles of query and key rows so that only one tile of cosines (at most
 * {@value #BLOCK_FLOATS} floats) exists at a time, never the full {@code [queries, keys]} matrix; each query keeps a
 * running top m across key tiles. Rows of zero norm
 * have no direction: they get no neighbours and are nobody's neighbour. Ties go to the lower key index.
 */
final class TopCosine {
    /** Cosines held at once: 2^24 floats = 64 MiB. */
    static final int BLOCK_FLOATS = 1 << 24;
    /** Keys per tile: small enough that re-preparing a key tile for every query block costs little. */
    static final int TILE = 4096;

    private final int m;
    private final int[] ids;
    private final float[] cos;
    private final int[] count;

    private TopCosine(int queries, int m) {
        this.m = m;
        this.ids = new int[queries * m];
        this.cos = new float[queries * m];
        this.count = new int[queries];
    }

    /**
     * @param excludeSelf when query and key matrices are the same, skip key i for query i
     */
    static TopCosine compute(FloatMatrix queries, FloatMatrix keys, int m, boolean excludeSelf, Kernels kernels) {
        int nq = queries.rows();
        int nk = keys.rows();
        int d = queries.cols();
        keys.requireCols(d, "cosine keys");
        TopCosine out = new TopCosine(nq, m);
        if (m == 0 || nq == 0 || nk == 0) {
            return out;
        }
        float[] qInv = inverseNorms(queries);
        float[] kInv = inverseNorms(keys);
        int kBlock = Math.min(nk, TILE);
        int qBlock = Math.max(1, Math.min(nq, BLOCK_FLOATS / kBlock));
        FloatMatrix a = new FloatMatrix(qBlock, d);
        FloatMatrix b = new FloatMatrix(kBlock, d);
        FloatMatrix c = new FloatMatrix(qBlock, kBlock);
        for (int k0 = 0; k0 < nk; k0 += kBlock) {
            int kRows = Math.min(kBlock, nk - k0);
            System.arraycopy(keys.data(), k0 * d, b.data(), 0, kRows * d);
            FloatMatrix bv = b.view(kRows);
            for (int q0 = 0; q0 < nq; q0 += qBlock) {
                int qRows = Math.min(qBlock, nq - q0);
                System.arraycopy(queries.data(), q0 * d, a.data(), 0, qRows * d);
                // c is [qBlock, kBlock]; a product of fewer keys is laid out [qRows, kRows] in its first floats.
                FloatMatrix cv = FloatMatrix.wrap(qRows, kRows, c.data());
                kernels.matmulNT(a.view(qRows), bv, cv);
                float[] cd = cv.data();
                for (int r = 0; r < qRows; r++) {
                    int q = q0 + r;
                    if (qInv[q] != 0f) {
                        out.merge(q, cd, r * kRows, k0, kRows, qInv[q], kInv, excludeSelf ? q : -1);
                    }
                }
            }
        }
        return out;
    }

    /** Merges keys [k0, k0 + kRows) (their dot products with query q at dots[off..]) into q's running top m. */
    private void merge(int q, float[] dots, int off, int k0, int kRows, float qInv, float[] kInv, int self) {
        int base = q * m;
        int n = count[q];
        float worst = n == m ? cos[base + m - 1] : Float.NEGATIVE_INFINITY;
        for (int t = 0; t < kRows; t++) {
            int j = k0 + t;
            if (j == self || kInv[j] == 0f) {
                continue;
            }
            float v = dots[off + t] * qInv * kInv[j];
            if (n == m && v <= worst) {
                continue;
            }
            int p = n < m ? n++ : m - 1;
            while (p > 0 && cos[base + p - 1] < v) {
                cos[base + p] = cos[base + p - 1];
                ids[base + p] = ids[base + p - 1];
                p--;
            }
            cos[base + p] = v;
            ids[base + p] = j;
            if (n == m) {
                worst = cos[base + m - 1];
            }
        }
        count[q] = n;
    }

    /** 1 / ‖row‖ per row, 0 for a zero row. */
    static float[] inverseNorms(FloatMatrix x) {
        int d = x.cols();
        float[] inv = new float[x.rows()];
        float[] xd = x.data();
        for (int r = 0; r < x.rows(); r++) {
            double ss = 0;
            for (int i = 0, o = r * d; i < d; i++) {
                ss += (double) xd[o + i] * xd[o + i];
            }
            inv[r] = ss > 0 ? (float) (1.0 / Math.sqrt(ss)) : 0f;
        }
        return inv;
    }

    int count(int q) {
        return count[q];
    }

    int id(int q, int t) {
        return ids[q * m + t];
    }

    float cosine(int q, int t) {
        return cos[q * m + t];
    }
}
