package org.saeforge.train;

import java.util.Arrays;
import org.saeforge.core.tensor.SparseCodes;

/**
 * Rows since each latent was last selected by top-k (a selection counts even when its value is 0, as in sparsify).
 * A latent is dead once that count exceeds {@code deadAfter}; dead latents feed the AuxK loss.
 */
public final class DeadLatentTracker {
    private final long[] sinceSelected;
    private final long deadAfter;
    private final int[] deadIds;
    private int numDead;

    public DeadLatentTracker(int numLatents, long deadAfter) {
        this.sinceSelected = new long[numLatents];
        this.deadAfter = deadAfter;
        this.deadIds = new int[numLatents];
    }

    /** Counts a batch of {@code rows} rows whose selections are {@code codes}, then refreshes the dead list. */
    public void update(SparseCodes codes, int rows) {
        for (int j = 0; j < sinceSelected.length; j++) {
            sinceSelected[j] += rows;
        }
        int[] idx = codes.indices();
        for (int p = 0, end = codes.nnz(); p < end; p++) {
            sinceSelected[idx[p]] = 0;
        }
        numDead = 0;
        for (int j = 0; j < sinceSelected.length; j++) {
            if (sinceSelected[j] > deadAfter) {
                deadIds[numDead++] = j;
            }
        }
    }

    /** Ascending ids of dead latents; the first {@link #numDead()} entries are valid. */
    public int[] deadIds() {
        return deadIds;
    }

    public int numDead() {
        return numDead;
    }

    public double deadFraction() {
        return (double) numDead / sinceSelected.length;
    }

    /** The counters, for checkpoints. */
    public long[] sinceSelected() {
        return sinceSelected;
    }

    /** Restores counters saved by {@link #sinceSelected()}. */
    public void restore(long[] counters) {
        if (counters.length != sinceSelected.length) {
            throw new IllegalArgumentException("dead-latent counters for " + counters.length + " latents, expected " + sinceSelected.length);
        }
        System.arraycopy(counters, 0, sinceSelected, 0, counters.length);
        numDead = 0;
        for (int j = 0; j < sinceSelected.length; j++) {
            if (sinceSelected[j] > deadAfter) {
                deadIds[numDead++] = j;
            }
        }
    }

    @Override
    public String toString() {
        return "DeadLatentTracker[" + numDead + " dead of " + sinceSelected.length + ", max since " + Arrays.stream(sinceSelected).max().orElse(0) + "]";
    }
}
