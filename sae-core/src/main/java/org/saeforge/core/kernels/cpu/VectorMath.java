package org.saeforge.core.kernels.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

/**
 * Vector API inner loops over float arrays with a scalar tail. {@link FloatVector#SPECIES_PREFERRED} adapts to the
 * machine (512-bit on AVX-512, 256-bit on AVX2).
 */
public final class VectorMath {
    static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    static final int L = S.length();
    /** Butterfly shuffles (lane i <-> i ^ step) for a lane sum whose order never depends on the JIT tier. */
    @SuppressWarnings("unchecked")
    private static final VectorShuffle<Float>[] BUTTERFLY = new VectorShuffle[Integer.numberOfTrailingZeros(L)];

    static {
        for (int level = 0, step = L / 2; step >= 1; level++, step /= 2) {
            int st = step;
            BUTTERFLY[level] = VectorShuffle.fromOp(S, i -> i ^ st);
        }
    }

    private VectorMath() {
    }

    /**
     * The sum of a vector's lanes in a fixed order. {@code reduceLanes(ADD)} may add in a different order when
     * interpreted than when compiled, which made two identical training runs in one JVM differ in the last bits.
     */
    public static float sumLanes(FloatVector v) {
        for (VectorShuffle<Float> shuffle : BUTTERFLY) {
            v = v.add(v.rearrange(shuffle));
        }
        return v.lane(0);
    }

    /** Σ a[ao+i]·b[bo+i] for i < n. */
    public static float dot(float[] a, int ao, float[] b, int bo, int n) {
        int i = 0;
        FloatVector acc0 = FloatVector.zero(S);
        FloatVector acc1 = FloatVector.zero(S);
        int bound2 = n - 2 * L;
        for (; i <= bound2; i += 2 * L) {
            acc0 = FloatVector.fromArray(S, a, ao + i).fma(FloatVector.fromArray(S, b, bo + i), acc0);
            acc1 = FloatVector.fromArray(S, a, ao + i + L).fma(FloatVector.fromArray(S, b, bo + i + L), acc1);
        }
        for (; i <= n - L; i += L) {
            acc0 = FloatVector.fromArray(S, a, ao + i).fma(FloatVector.fromArray(S, b, bo + i), acc0);
        }
        float s = sumLanes(acc0.add(acc1));
        for (; i < n; i++) {
            s += a[ao + i] * b[bo + i];
        }
        return s;
    }

    /**
     * {@code out[oo+q] = dot(a, ao, b, idx[p+q]·n, n)} for q < 4: four dots against one shared vector, each summed
     * exactly as {@link #dot} sums it (same bits), with eight independent accumulators in flight.
     */
    public static void dot4(float[] a, int ao, float[] b, int[] idx, int p, int n, float[] out, int oo) {
        int b0 = idx[p] * n;
        int b1 = idx[p + 1] * n;
        int b2 = idx[p + 2] * n;
        int b3 = idx[p + 3] * n;
        FloatVector e0 = FloatVector.zero(S);
        FloatVector o0 = e0;
        FloatVector e1 = e0;
        FloatVector o1 = e0;
        FloatVector e2 = e0;
        FloatVector o2 = e0;
        FloatVector e3 = e0;
        FloatVector o3 = e0;
        int i = 0;
        for (; i <= n - 2 * L; i += 2 * L) {
            FloatVector x = FloatVector.fromArray(S, a, ao + i);
            FloatVector y = FloatVector.fromArray(S, a, ao + i + L);
            e0 = x.fma(FloatVector.fromArray(S, b, b0 + i), e0);
            o0 = y.fma(FloatVector.fromArray(S, b, b0 + i + L), o0);
            e1 = x.fma(FloatVector.fromArray(S, b, b1 + i), e1);
            o1 = y.fma(FloatVector.fromArray(S, b, b1 + i + L), o1);
            e2 = x.fma(FloatVector.fromArray(S, b, b2 + i), e2);
            o2 = y.fma(FloatVector.fromArray(S, b, b2 + i + L), o2);
            e3 = x.fma(FloatVector.fromArray(S, b, b3 + i), e3);
            o3 = y.fma(FloatVector.fromArray(S, b, b3 + i + L), o3);
        }
        for (; i <= n - L; i += L) {
            FloatVector x = FloatVector.fromArray(S, a, ao + i);
            e0 = x.fma(FloatVector.fromArray(S, b, b0 + i), e0);
            e1 = x.fma(FloatVector.fromArray(S, b, b1 + i), e1);
            e2 = x.fma(FloatVector.fromArray(S, b, b2 + i), e2);
            e3 = x.fma(FloatVector.fromArray(S, b, b3 + i), e3);
        }
        float s0 = sumLanes(e0.add(o0));
        float s1 = sumLanes(e1.add(o1));
        float s2 = sumLanes(e2.add(o2));
        float s3 = sumLanes(e3.add(o3));
        for (; i < n; i++) {
            float x = a[ao + i];
            s0 += x * b[b0 + i];
            s1 += x * b[b1 + i];
            s2 += x * b[b2 + i];
            s3 += x * b[b3 + i];
        }
        out[oo] = s0;
        out[oo + 1] = s1;
        out[oo + 2] = s2;
        out[oo + 3] = s3;
    }

    /**
     * out[o+i] = scale·(a[o+i] − b[o+i]) for i < n; returns Σ (a − b)² in double (float lanes, summed per call in a
     * fixed order).
     */
    public static double scaledDifference(float[] a, float[] b, int o, float scale, float[] out, int n) {
        int i = 0;
        FloatVector vs = FloatVector.broadcast(S, scale);
        FloatVector acc = FloatVector.zero(S);
        for (; i <= n - L; i += L) {
            FloatVector e = FloatVector.fromArray(S, a, o + i).sub(FloatVector.fromArray(S, b, o + i));
            acc = e.fma(e, acc);
            e.mul(vs).intoArray(out, o + i);
        }
        double s = sumLanes(acc);
        for (; i < n; i++) {
            float e = a[o + i] - b[o + i];
            s += (double) e * e;
            out[o + i] = scale * e;
        }
        return s;
    }

    /** y[yo+i] += alpha·x[xo+i] for i < n. */
    public static void axpy(float alpha, float[] x, int xo, float[] y, int yo, int n) {
        int i = 0;
        FloatVector va = FloatVector.broadcast(S, alpha);
        for (; i <= n - L; i += L) {
            FloatVector.fromArray(S, x, xo + i).fma(va, FloatVector.fromArray(S, y, yo + i)).intoArray(y, yo + i);
        }
        for (; i < n; i++) {
            y[yo + i] = Math.fma(alpha, x[xo + i], y[yo + i]);
        }
    }

    /**
     * y[yo+i] += Σ_{q<4} c[cq+q]·x[o[oq+q]·scale + i] for i < n: four gathered rows streamed at once, so that their
     * cache misses overlap, and one load and store of y per four rows. The terms are added in the order 0..3, as four
     * successive {@link #axpy} calls would (each through a fused multiply-add), so results do not depend on grouping.
     */
    public static void axpy4(float[] c, int cq, float[] x, int[] o, int oq, int scale, float[] y, int yo, int n) {
        float a0 = c[cq];
        float a1 = c[cq + 1];
        float a2 = c[cq + 2];
        float a3 = c[cq + 3];
        int o0 = o[oq] * scale;
        int o1 = o[oq + 1] * scale;
        int o2 = o[oq + 2] * scale;
        int o3 = o[oq + 3] * scale;
        int i = 0;
        FloatVector v0 = FloatVector.broadcast(S, a0);
        FloatVector v1 = FloatVector.broadcast(S, a1);
        FloatVector v2 = FloatVector.broadcast(S, a2);
        FloatVector v3 = FloatVector.broadcast(S, a3);
        for (; i <= n - L; i += L) {
            FloatVector acc = FloatVector.fromArray(S, y, yo + i);
            acc = FloatVector.fromArray(S, x, o0 + i).fma(v0, acc);
            acc = FloatVector.fromArray(S, x, o1 + i).fma(v1, acc);
            acc = FloatVector.fromArray(S, x, o2 + i).fma(v2, acc);
            acc = FloatVector.fromArray(S, x, o3 + i).fma(v3, acc);
            acc.intoArray(y, yo + i);
        }
        for (; i < n; i++) {
            float acc = y[yo + i];
            acc = Math.fma(a0, x[o0 + i], acc);
            acc = Math.fma(a1, x[o1 + i], acc);
            acc = Math.fma(a2, x[o2 + i], acc);
            acc = Math.fma(a3, x[o3 + i], acc);
            y[yo + i] = acc;
        }
    }

    /**
     * {@code y[yo..yo+n) += Σ_{p in [start, end)} c[p]·x[o[p]·scale ..]}: gathered rows added in entry order (as
     * successive {@link #axpy} calls would), eight and then four at a time so that their cache misses overlap.
     */
    public static void axpyRows(float[] c, int[] o, int start, int end, float[] x, int scale, float[] y, int yo, int n) {
        int p = start;
        for (; p + 8 <= end; p += 8) {
            axpy8(c, p, x, o, p, scale, y, yo, n);
        }
        for (; p + 4 <= end; p += 4) {
            axpy4(c, p, x, o, p, scale, y, yo, n);
        }
        for (; p < end; p++) {
            axpy(c[p], x, o[p] * scale, y, yo, n);
        }
    }

    /**
     * {@link #axpy4} over eight rows {@code c[q]·x[o[q]..]}, q = 0..7 from {@code c[cq..]} and {@code o[oq..]}: eight
     * independent gathered rows in flight per output vector. Terms are added in the order 0..7 through fused
     * multiply-adds, exactly as successive {@link #axpy} calls would.
     */
    public static void axpy8(float[] c, int cq, float[] x, int[] o, int oq, int scale, float[] y, int yo, int n) {
        FloatVector v0 = FloatVector.broadcast(S, c[cq]);
        FloatVector v1 = FloatVector.broadcast(S, c[cq + 1]);
        FloatVector v2 = FloatVector.broadcast(S, c[cq + 2]);
        FloatVector v3 = FloatVector.broadcast(S, c[cq + 3]);
        FloatVector v4 = FloatVector.broadcast(S, c[cq + 4]);
        FloatVector v5 = FloatVector.broadcast(S, c[cq + 5]);
        FloatVector v6 = FloatVector.broadcast(S, c[cq + 6]);
        FloatVector v7 = FloatVector.broadcast(S, c[cq + 7]);
        int o0 = o[oq] * scale;
        int o1 = o[oq + 1] * scale;
        int o2 = o[oq + 2] * scale;
        int o3 = o[oq + 3] * scale;
        int o4 = o[oq + 4] * scale;
        int o5 = o[oq + 5] * scale;
        int o6 = o[oq + 6] * scale;
        int o7 = o[oq + 7] * scale;
        int i = 0;
        for (; i <= n - L; i += L) {
            FloatVector acc = FloatVector.fromArray(S, y, yo + i);
            acc = FloatVector.fromArray(S, x, o0 + i).fma(v0, acc);
            acc = FloatVector.fromArray(S, x, o1 + i).fma(v1, acc);
            acc = FloatVector.fromArray(S, x, o2 + i).fma(v2, acc);
            acc = FloatVector.fromArray(S, x, o3 + i).fma(v3, acc);
            acc = FloatVector.fromArray(S, x, o4 + i).fma(v4, acc);
            acc = FloatVector.fromArray(S, x, o5 + i).fma(v5, acc);
            acc = FloatVector.fromArray(S, x, o6 + i).fma(v6, acc);
            acc = FloatVector.fromArray(S, x, o7 + i).fma(v7, acc);
            acc.intoArray(y, yo + i);
        }
        for (; i < n; i++) {
            float acc = y[yo + i];
            acc = Math.fma(c[cq], x[o0 + i], acc);
            acc = Math.fma(c[cq + 1], x[o1 + i], acc);
            acc = Math.fma(c[cq + 2], x[o2 + i], acc);
            acc = Math.fma(c[cq + 3], x[o3 + i], acc);
            acc = Math.fma(c[cq + 4], x[o4 + i], acc);
            acc = Math.fma(c[cq + 5], x[o5 + i], acc);
            acc = Math.fma(c[cq + 6], x[o6 + i], acc);
            acc = Math.fma(c[cq + 7], x[o7 + i], acc);
            y[yo + i] = acc;
        }
    }

    /** y[yo+i] += alpha·(x[xo+i] - shift[i]) for i < n. */
    public static void axpyShifted(float alpha, float[] x, int xo, float[] shift, float[] y, int yo, int n) {
        int i = 0;
        FloatVector va = FloatVector.broadcast(S, alpha);
        for (; i <= n - L; i += L) {
            FloatVector xs = FloatVector.fromArray(S, x, xo + i).sub(FloatVector.fromArray(S, shift, i));
            xs.fma(va, FloatVector.fromArray(S, y, yo + i)).intoArray(y, yo + i);
        }
        for (; i < n; i++) {
            y[yo + i] += alpha * (x[xo + i] - shift[i]);
        }
    }

    /** out[oo+i] = a[ao+i] - b[i] for i < n. */
    public static void sub(float[] a, int ao, float[] b, float[] out, int oo, int n) {
        int i = 0;
        for (; i <= n - L; i += L) {
            FloatVector.fromArray(S, a, ao + i).sub(FloatVector.fromArray(S, b, i)).intoArray(out, oo + i);
        }
        for (; i < n; i++) {
            out[oo + i] = a[ao + i] - b[i];
        }
    }

    /** a[ao+i] += b[i] for i < n. */
    public static void addInPlace(float[] a, int ao, float[] b, int n) {
        addInPlace(a, ao, b, 0, n);
    }

    /** a[ao+i] += b[bo+i] for i < n. */
    public static void addInPlace(float[] a, int ao, float[] b, int bo, int n) {
        int i = 0;
        for (; i <= n - L; i += L) {
            FloatVector.fromArray(S, a, ao + i).add(FloatVector.fromArray(S, b, bo + i)).intoArray(a, ao + i);
        }
        for (; i < n; i++) {
            a[ao + i] += b[bo + i];
        }
    }

    /** a[ao+i] *= s for i < n. */
    public static void scale(float[] a, int ao, float s, int n) {
        int i = 0;
        FloatVector vs = FloatVector.broadcast(S, s);
        for (; i <= n - L; i += L) {
            FloatVector.fromArray(S, a, ao + i).mul(vs).intoArray(a, ao + i);
        }
        for (; i < n; i++) {
            a[ao + i] *= s;
        }
    }

    /** Σ a[ao+i]² in double-free float vectors (fine for row norms). */
    public static float sumSquares(float[] a, int ao, int n) {
        return dot(a, ao, a, ao, n);
    }
}
