package org.saeforge.core.kernels.cpu;

import jdk.incubator.vector.FloatVector;
import org.saeforge.core.kernels.AdamStep;

/** The vectorised Adam update of one contiguous run of parameters (PyTorch semantics, see {@link AdamStep}). */
final class AdamRow {
    private final float b1;
    private final float b2;
    private final float stepSize;
    private final float invBc2;
    private final float eps;

    AdamRow(AdamStep step) {
        this.b1 = step.beta1();
        this.b2 = step.beta2();
        this.stepSize = (float) step.stepSize();
        this.invBc2 = (float) (1.0 / step.sqrtBiasCorrection2());
        this.eps = step.eps();
    }

    /** Updates {@code p, m, v} at {@code [po, po+len)} with gradient {@code g} at {@code [go, go+len)}. */
    void apply(float[] p, int po, float[] g, int go, float[] m, float[] v, int len) {
        int l = VectorMath.L;
        FloatVector vb1 = FloatVector.broadcast(VectorMath.S, b1);
        FloatVector vb1c = FloatVector.broadcast(VectorMath.S, 1 - b1);
        FloatVector vb2 = FloatVector.broadcast(VectorMath.S, b2);
        FloatVector vb2c = FloatVector.broadcast(VectorMath.S, 1 - b2);
        FloatVector vStep = FloatVector.broadcast(VectorMath.S, stepSize);
        FloatVector vInv = FloatVector.broadcast(VectorMath.S, invBc2);
        FloatVector vEps = FloatVector.broadcast(VectorMath.S, eps);
        int i = 0;
        for (; i <= len - l; i += l) {
            FloatVector gi = FloatVector.fromArray(VectorMath.S, g, go + i);
            FloatVector mi = FloatVector.fromArray(VectorMath.S, m, po + i).mul(vb1).add(gi.mul(vb1c));
            FloatVector vi = FloatVector.fromArray(VectorMath.S, v, po + i).mul(vb2).add(gi.mul(gi).mul(vb2c));
            mi.intoArray(m, po + i);
            vi.intoArray(v, po + i);
            FloatVector denom = vi.sqrt().mul(vInv).add(vEps);
            FloatVector.fromArray(VectorMath.S, p, po + i).sub(mi.mul(vStep).div(denom)).intoArray(p, po + i);
        }
        for (; i < len; i++) {
            float gi = g[go + i];
            float mi = b1 * m[po + i] + (1 - b1) * gi;
            // the vector loop's association exactly (v·b2 + (g·g)·(1 − b2)): an element's bits must not depend on
            // whether a thread's range put it in the tail
            float vi = v[po + i] * b2 + gi * gi * (1 - b2);
            m[po + i] = mi;
            v[po + i] = vi;
            p[po + i] -= stepSize * mi / ((float) Math.sqrt(vi) * invBc2 + eps);
        }
    }
}
