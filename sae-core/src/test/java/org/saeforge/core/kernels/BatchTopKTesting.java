package org.saeforge.core.kernels;

/** Test access to {@link BatchTopK}'s package-private pieces. */
public final class BatchTopKTesting {
    private BatchTopKTesting() {
    }

    public static int candidatesPerRow(int kTotal, int rows, int numLatents) {
        return BatchTopK.candidatesPerRow(kTotal, rows, numLatents);
    }

    public static float select(float[] a, int n, int rank) {
        return BatchTopK.select(a, n, rank);
    }
}
