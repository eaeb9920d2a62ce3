package org.saeforge.core.kernels.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;

/**
 * Partial selection of the k largest values of a row: a size-k min-heap whose root is the current threshold, and a
 * vector pre-filter that skips every chunk of the row with no value above it. Long rows first bound the threshold
 * from group maxima so that only a few candidates reach the heap (see {@link #selectTwoPass}). Ties go to the lower
 * index, as in {@link ReferenceKernels#topKIndices}: candidates are visited in ascending index order and only strictly
 * larger values displace the root. One selector per worker thread (not thread-safe).
 */
final class TopKSelector {
    /** Rows at least this many times longer than k take the two-pass path. */
    static final int TWO_PASS_RATIO = 32;
    /** Vectors per group whose lane-wise maximum bounds the threshold in the two-pass path. */
    static final int GROUP_VECTORS = 16;
    /** Most bisection steps when bounding the threshold from the group maxima. */
    static final int BISECTION_STEPS = 16;

    private int[] heapIdx = new int[0];
    private float[] heapVal = new float[0];
    private int size;
    private float[] groupMax = new float[0];
    private float[] candVal = new float[0];
    private int[] candId = new int[0];

    /**
     * Selects the k largest of {@code v[0..n)} and writes their positions (mapped through {@code ids} when not null)
     * and ReLU'd values to {@code outIdx/outVal[off..off+k)}, largest first.
     */
    void select(float[] v, int n, int k, int[] ids, int[] outIdx, float[] outVal, int off) {
        select(v, null, n, k, ids, outIdx, outVal, off);
    }

    /**
     * Like {@link #select(float[], int, int, int[], int[], float[], int)} on the values {@code v[i] + bias[i]}
     * ({@code bias} may be null), without a separate pass to add the bias.
     */
    void select(float[] v, float[] bias, int n, int k, int[] ids, int[] outIdx, float[] outVal, int off) {
        if (k > n) {
            throw new IllegalArgumentException("k=" + k + " > n=" + n);
        }
        if (n >= TWO_PASS_RATIO * k && n >= GROUP_VECTORS * VectorMath.L) {
            selectTwoPass(v, bias, n, k, ids, outIdx, outVal, off);
        } else {
            fillHeap(v, bias, n, k);
            drain(ids, outIdx, outVal, off, k);
        }
    }

    /**
     * Rows much longer than k: first the lane-wise maxima of groups of {@link #GROUP_VECTORS} vectors (each the maximum
     * of that many elements); any t with at least k maxima {@code >= t} is a lower bound of the row's k-th largest
     * value, since those maxima are k distinct elements of the row ({@link #boundFromMaxima}). A second pass keeps only the elements {@code >= t}, in index order,
     * and the heap selects among those few. Both passes are straight vector loops; the result equals the heap's on the
     * whole row, ties included.
     */
    private void selectTwoPass(float[] v, float[] bias, int n, int k, int[] ids, int[] outIdx, float[] outVal, int off) {
        int l = VectorMath.L;
        int span = GROUP_VECTORS * l;
        int full = n / span * span;
        int numMax = full / GROUP_VECTORS;
        if (groupMax.length < numMax) {
            groupMax = new float[numMax];
        }
        for (int g0 = 0, o = 0; g0 < full; g0 += span, o += l) {
            FloatVector acc = load(v, bias, g0);
            for (int j = 1; j < GROUP_VECTORS; j++) {
                acc = acc.max(load(v, bias, g0 + j * l));
            }
            acc.intoArray(groupMax, o);
        }
        float t = boundFromMaxima(numMax, k);
        if (Float.isNaN(t)) {
            fillHeap(groupMax, null, numMax, k);
            t = heapVal[0];
        }
        if (candVal.length < n) {
            candVal = new float[n];
            candId = new int[n];
        }
        int m = 0;
        FloatVector vt = FloatVector.broadcast(VectorMath.S, t);
        int i = 0;
        for (; i <= n - l; i += l) {
            VectorMask<Float> keep = load(v, bias, i).compare(VectorOperators.GE, vt);
            if (keep.anyTrue()) {
                for (int lane = 0; lane < l; lane++) {
                    float x = bias == null ? v[i + lane] : v[i + lane] + bias[i + lane];
                    if (x >= t) {
                        candVal[m] = x;
                        candId[m++] = ids == null ? i + lane : ids[i + lane];
                    }
                }
            }
        }
        for (; i < n; i++) {
            float x = bias == null ? v[i] : v[i] + bias[i];
            if (x >= t) {
                candVal[m] = x;
                candId[m++] = ids == null ? i : ids[i];
            }
        }
        fillHeap(candVal, null, m, k);
        drain(candId, outIdx, outVal, off, k);
    }

    /**
     * A value t with at least k group maxima {@code >= t} (so at least k row elements, hence t is at most the row's k-th
     * largest), found by bisection between the smallest and largest maximum with branch-free vector counts, stopping
     * once at most k + k/4 maxima pass. This replaces an exact k-th-largest of the maxima: a heap over them costs
     * several times more through mispredicted branches than the few extra candidates the looser bound admits.
     * Returns NaN when a maximum is NaN or infinite (the caller then takes the exact heap).
     */
    private float boundFromMaxima(int numMax, int k) {
        int l = VectorMath.L;
        FloatVector lowest = FloatVector.fromArray(VectorMath.S, groupMax, 0);
        FloatVector highest = lowest;
        for (int i = l; i < numMax; i += l) {
            FloatVector g = FloatVector.fromArray(VectorMath.S, groupMax, i);
            lowest = lowest.min(g);
            highest = highest.max(g);
        }
        float lo = lowest.reduceLanes(VectorOperators.MIN);
        float hi = highest.reduceLanes(VectorOperators.MAX);
        if (!Float.isFinite(lo) || !Float.isFinite(hi)) {
            return Float.NaN;
        }
        if (countAtLeast(hi, numMax) >= k) {
            return hi;
        }
        int enough = k + (k >> 2) + 1;
        for (int it = 0; it < BISECTION_STEPS; it++) {
            float mid = lo + (hi - lo) * 0.5f;
            if (mid <= lo || mid >= hi) {
                break;
            }
            int c = countAtLeast(mid, numMax);
            if (c >= k) {
                lo = mid;
                if (c <= enough) {
                    break;
                }
            } else {
                hi = mid;
            }
        }
        return lo;
    }

    private int countAtLeast(float t, int numMax) {
        FloatVector vt = FloatVector.broadcast(VectorMath.S, t);
        int c = 0;
        for (int i = 0; i < numMax; i += VectorMath.L) {
            c += FloatVector.fromArray(VectorMath.S, groupMax, i).compare(VectorOperators.GE, vt).trueCount();
        }
        return c;
    }

    private static FloatVector load(float[] v, float[] bias, int i) {
        FloatVector x = FloatVector.fromArray(VectorMath.S, v, i);
        return bias == null ? x : x.add(FloatVector.fromArray(VectorMath.S, bias, i));
    }

    /** Leaves the k largest of {@code v[0..n) (+ bias)} in the heap, root = the k-th largest. */
    private void fillHeap(float[] v, float[] bias, int n, int k) {
        if (heapIdx.length < k) {
            heapIdx = new int[k];
            heapVal = new float[k];
        }
        size = 0;
        for (int i = 0; i < k; i++) {
            push(i, bias == null ? v[i] : v[i] + bias[i]);
        }
        int i = k;
        int l = VectorMath.L;
        float threshold = heapVal[0];
        FloatVector vt = FloatVector.broadcast(VectorMath.S, threshold);
        for (; i <= n - l; i += l) {
            VectorMask<Float> above = load(v, bias, i).compare(VectorOperators.GT, vt);
            if (above.anyTrue()) {
                for (int lane = 0; lane < l; lane++) {
                    float x = bias == null ? v[i + lane] : v[i + lane] + bias[i + lane];
                    if (x > heapVal[0]) {
                        replaceRoot(i + lane, x);
                    }
                }
                if (heapVal[0] != threshold) {
                    threshold = heapVal[0];
                    vt = FloatVector.broadcast(VectorMath.S, threshold);
                }
            }
        }
        for (; i < n; i++) {
            float x = bias == null ? v[i] : v[i] + bias[i];
            if (x > heapVal[0]) {
                replaceRoot(i, x);
            }
        }
    }

    /** Pops the heap worst-first into the output from the back, so the output ends up best-first. */
    private void drain(int[] ids, int[] outIdx, float[] outVal, int off, int k) {
        for (int p = k - 1; p >= 0; p--) {
            int pos = heapIdx[0];
            float val = heapVal[0];
            outIdx[off + p] = ids == null ? pos : ids[pos];
            outVal[off + p] = val > 0 ? val : 0f;
            size--;
            if (size > 0) {
                heapIdx[0] = heapIdx[size];
                heapVal[0] = heapVal[size];
                siftDown(0);
            }
        }
    }

    /** a is worse than b: smaller value, or equal value and larger index. */
    private boolean worse(int a, int b) {
        return heapVal[a] < heapVal[b] || (heapVal[a] == heapVal[b] && heapIdx[a] > heapIdx[b]);
    }

    private void push(int idx, float val) {
        int c = size++;
        heapIdx[c] = idx;
        heapVal[c] = val;
        while (c > 0) {
            int parent = (c - 1) >>> 1;
            if (!worse(c, parent)) {
                break;
            }
            swap(c, parent);
            c = parent;
        }
    }

    private void replaceRoot(int idx, float val) {
        heapIdx[0] = idx;
        heapVal[0] = val;
        siftDown(0);
    }

    private void siftDown(int c) {
        while (true) {
            int l = 2 * c + 1;
            if (l >= size) {
                return;
            }
            int r = l + 1;
            int w = r < size && worse(r, l) ? r : l;
            if (!worse(w, c)) {
                return;
            }
            swap(c, w);
            c = w;
        }
    }

    private void swap(int a, int b) {
        int ti = heapIdx[a];
        heapIdx[a] = heapIdx[b];
        heapIdx[b] = ti;
        float tv = heapVal[a];
        heapVal[a] = heapVal[b];
        heapVal[b] = tv;
    }
}
