package org.saeforge.core.kernels.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * Pure-Java {@code C = A · B^T} with the Vector API, used when OpenBLAS is not available. Both operands are
 * row-major with the inner dimension contiguous, so each output is a dot product: a 4x4 register block of dot
 * products is accumulated along k, over tiles of B small enough to stay in L2, rows of A split across workers.
 */
final class VectorGemm implements DenseGemm {
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int L = S.length();
    private static final int B_TILE = 128;

    private final WorkerPool pool;
    private float[] b;
    private int n;
    private int k;
    private float[] c = new float[0];

    VectorGemm(WorkerPool pool) {
        this.pool = pool;
    }

    @Override
    public String name() {
        return "java-vector(" + S.vectorBitSize() + ")";
    }

    @Override
    public void prepareB(float[] src, int n, int k) {
        this.b = src;
        this.n = n;
        this.k = k;
    }

    @Override
    public Product multiply(float[] a, int m) {
        long size = (long) m * n;
        if (c.length < size) {
            c = new float[(int) size];
        }
        float[] out = c;
        pool.forEach((m + 3) / 4, (w, s, e) -> multiplyRows(a, s * 4, Math.min(m, e * 4), out));
        int cols = n;
        return (r, dst, off) -> System.arraycopy(out, r * cols, dst, off, cols);
    }

    private void multiplyRows(float[] a, int rowStart, int rowEnd, float[] out) {
        for (int j0 = 0; j0 < n; j0 += B_TILE) {
            int j1 = Math.min(n, j0 + B_TILE);
            int i = rowStart;
            for (; i + 4 <= rowEnd; i += 4) {
                int j = j0;
                for (; j + 4 <= j1; j += 4) {
                    block4x4(a, i, j, out);
                }
                for (; j < j1; j++) {
                    for (int ii = i; ii < i + 4; ii++) {
                        out[ii * n + j] = VectorMath.dot(a, ii * k, b, j * k, k);
                    }
                }
            }
            for (; i < rowEnd; i++) {
                for (int j = j0; j < j1; j++) {
                    out[i * n + j] = VectorMath.dot(a, i * k, b, j * k, k);
                }
            }
        }
    }

    private void block4x4(float[] a, int i, int j, float[] out) {
        int a0 = i * k;
        int a1 = a0 + k;
        int a2 = a1 + k;
        int a3 = a2 + k;
        int b0 = j * k;
        int b1 = b0 + k;
        int b2 = b1 + k;
        int b3 = b2 + k;
        FloatVector c00 = FloatVector.zero(S), c01 = c00, c02 = c00, c03 = c00;
        FloatVector c10 = c00, c11 = c00, c12 = c00, c13 = c00;
        FloatVector c20 = c00, c21 = c00, c22 = c00, c23 = c00;
        FloatVector c30 = c00, c31 = c00, c32 = c00, c33 = c00;
        int t = 0;
        for (; t <= k - L; t += L) {
            FloatVector v0 = FloatVector.fromArray(S, b, b0 + t);
            FloatVector v1 = FloatVector.fromArray(S, b, b1 + t);
            FloatVector v2 = FloatVector.fromArray(S, b, b2 + t);
            FloatVector v3 = FloatVector.fromArray(S, b, b3 + t);
            FloatVector u = FloatVector.fromArray(S, a, a0 + t);
            c00 = u.fma(v0, c00);
            c01 = u.fma(v1, c01);
            c02 = u.fma(v2, c02);
            c03 = u.fma(v3, c03);
            u = FloatVector.fromArray(S, a, a1 + t);
            c10 = u.fma(v0, c10);
            c11 = u.fma(v1, c11);
            c12 = u.fma(v2, c12);
            c13 = u.fma(v3, c13);
            u = FloatVector.fromArray(S, a, a2 + t);
            c20 = u.fma(v0, c20);
            c21 = u.fma(v1, c21);
            c22 = u.fma(v2, c22);
            c23 = u.fma(v3, c23);
            u = FloatVector.fromArray(S, a, a3 + t);
            c30 = u.fma(v0, c30);
            c31 = u.fma(v1, c31);
            c32 = u.fma(v2, c32);
            c33 = u.fma(v3, c33);
        }
        int o0 = i * n + j;
        int o1 = o0 + n;
        int o2 = o1 + n;
        int o3 = o2 + n;
        out[o0] = VectorMath.sumLanes(c00) + tail(a, a0, b0, t);
        out[o0 + 1] = VectorMath.sumLanes(c01) + tail(a, a0, b1, t);
        out[o0 + 2] = VectorMath.sumLanes(c02) + tail(a, a0, b2, t);
        out[o0 + 3] = VectorMath.sumLanes(c03) + tail(a, a0, b3, t);
        out[o1] = VectorMath.sumLanes(c10) + tail(a, a1, b0, t);
        out[o1 + 1] = VectorMath.sumLanes(c11) + tail(a, a1, b1, t);
        out[o1 + 2] = VectorMath.sumLanes(c12) + tail(a, a1, b2, t);
        out[o1 + 3] = VectorMath.sumLanes(c13) + tail(a, a1, b3, t);
        out[o2] = VectorMath.sumLanes(c20) + tail(a, a2, b0, t);
        out[o2 + 1] = VectorMath.sumLanes(c21) + tail(a, a2, b1, t);
        out[o2 + 2] = VectorMath.sumLanes(c22) + tail(a, a2, b2, t);
        out[o2 + 3] = VectorMath.sumLanes(c23) + tail(a, a2, b3, t);
        out[o3] = VectorMath.sumLanes(c30) + tail(a, a3, b0, t);
        out[o3 + 1] = VectorMath.sumLanes(c31) + tail(a, a3, b1, t);
        out[o3 + 2] = VectorMath.sumLanes(c32) + tail(a, a3, b2, t);
        out[o3 + 3] = VectorMath.sumLanes(c33) + tail(a, a3, b3, t);
    }

    private float tail(float[] a, int ao, int bo, int from) {
        float s = 0;
        for (int t = from; t < k; t++) {
            s += a[ao + t] * b[bo + t];
        }
        return s;
    }

    @Override
    public void close() {
        c = new float[0];
        b = null;
    }
}
