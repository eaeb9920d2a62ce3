package org.saeforge.train.dictionary;

/**
 * The N largest activations of every latent with their row numbers, in one bounded min-heap per latent
 * ({@code numLatents · N} slots in flat arrays). Ties are broken towards the lower row: the heap's root is the
 * smallest activation and, among equal ones, the highest row, so an equal later row never displaces an earlier one.
 */
final class TopExamples {
    private final int n;
    private final float[] act;
    private final long[] row;
    private final int[] size;

    TopExamples(int numLatents, int n) {
        this.n = n;
        long slots = (long) numLatents * n;
        if (slots > Integer.MAX_VALUE - 8) {
            throw new org.saeforge.core.SaeException("--top-n " + n + " x " + numLatents + " latents is too many examples to keep");
        }
        this.act = new float[(int) slots];
        this.row = new long[(int) slots];
        this.size = new int[numLatents];
    }

    int n() {
        return n;
    }

    /** Offers activation v of latent j at row r. */
    void offer(int j, float v, long r) {
        if (n == 0) {
            return;
        }
        int base = j * n;
        int s = size[j];
        if (s < n) {
            int i = s;
            size[j] = s + 1;
            while (i > 0) {
                int parent = (i - 1) >> 1;
                if (!worse(v, r, act[base + parent], row[base + parent])) {
                    break;
                }
                act[base + i] = act[base + parent];
                row[base + i] = row[base + parent];
                i = parent;
            }
            act[base + i] = v;
            row[base + i] = r;
            return;
        }
        if (!worse(act[base], row[base], v, r)) {
            return;
        }
        int i = 0;
        while (true) {
            int c = 2 * i + 1;
            if (c >= n) {
                break;
            }
            if (c + 1 < n && worse(act[base + c + 1], row[base + c + 1], act[base + c], row[base + c])) {
                c++;
            }
            if (!worse(act[base + c], row[base + c], v, r)) {
                break;
            }
            act[base + i] = act[base + c];
            row[base + i] = row[base + c];
            i = c;
        }
        act[base + i] = v;
        row[base + i] = r;
    }

    /** True when example (a, ra) ranks below (b, rb): smaller activation, or equal activation and later row. */
    private static boolean worse(float a, long ra, float b, long rb) {
        return a < b || (a == b && ra > rb);
    }

    int count(int j) {
        return size[j];
    }

    /** Slot order of latent j's examples, best first (activation descending, row ascending). */
    int[] sortedSlots(int j) {
        int base = j * n;
        int s = size[j];
        int[] order = new int[s];
        for (int i = 0; i < s; i++) {
            int slot = base + i;
            int p = i;
            while (p > 0 && worse(act[order[p - 1]], row[order[p - 1]], act[slot], row[slot])) {
                order[p] = order[p - 1];
                p--;
            }
            order[p] = slot;
        }
        return order;
    }

    float activation(int slot) {
        return act[slot];
    }

    long row(int slot) {
        return row[slot];
    }
}
