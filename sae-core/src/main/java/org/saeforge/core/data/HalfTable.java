package org.saeforge.core.data;

import org.saeforge.core.tensor.Half;

/**
 * float16 to float32 through a 65,536-entry table (256 KB, stays in L2): several times faster than converting bit
 * by bit, which matters when float16 shards or files are read at memory speed. The table is filled once and never
 * written again.
 */
final class HalfTable {
    private static final float[] TABLE = build();

    private HalfTable() {
    }

    private static float[] build() {
        float[] t = new float[1 << 16];
        for (int i = 0; i < t.length; i++) {
            t[i] = Half.toFloat((short) i);
        }
        return t;
    }

    static float toFloat(short bits) {
        return TABLE[bits & 0xffff];
    }

    /** dst[off + i] = float of src[i] for i in [0, n). */
    static void decode(short[] src, float[] dst, int off, int n) {
        float[] t = TABLE;
        for (int i = 0; i < n; i++) {
            dst[off + i] = t[src[i] & 0xffff];
        }
    }
}
