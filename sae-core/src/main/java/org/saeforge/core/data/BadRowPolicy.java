package org.saeforge.core.data;

import java.util.Locale;
import org.saeforge.core.SaeException;

/** What to do with rows holding NaN or infinity ({@code --on-bad-rows}). */
public enum BadRowPolicy {
    /** Skip them and report how many were skipped. */
    SKIP,
    /** Stop with an error naming the file and the first bad row. */
    FAIL;

    public static BadRowPolicy fromCliName(String s) {
        try {
            return valueOf(s.toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new SaeException("--on-bad-rows must be skip or fail, got '" + s + "'");
        }
    }

    /** True when all of row r of data (width d, starting at off) is finite. */
    public static boolean finiteRow(float[] data, int off, int d) {
        for (int i = 0; i < d; i++) {
            float v = data[off + i];
            if (v - v != 0f) {
                return false;
            }
        }
        return true;
    }
}
