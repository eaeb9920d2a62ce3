package org.saeforge.train;

import java.util.Arrays;
import org.saeforge.core.tensor.SparseCodes;

/**
 * Rows since each latent last fired. For TopK a selection counts even when its value is 0 (as in sparsify); for the
 * other architectures only a positive activation does. A latent is dead once that count exceeds {@code deadAfter};
 * dead latents feed the AuxK loss. A second count, rows since the latent last had a positive activation, drives
 * revival ({@link org.saeforge.core.kernels.Revival}): a TopK latent can keep being selected at 0 (when fewer than k
 * pre-activations of a row are positive) and then never fires nor learns.
 */
public final class DeadLatentTracker {
    private final long[] sinceSelected;
    private final long[] sincePositive;
    /** Positive activations per latent in the last batch counted (revival's silence test). */
    private final int[] firedInLastBatch;
    private final long deadAfter;
    private final int[] deadIds;
    private int numDead;

    public DeadLatentTracker(int numLatents, long deadAfter) {
        this.sinceSelected = new long[numLatents];
        this.sincePositive = new long[numLatents];
        this.firedInLastBatch = new int[numLatents];
        this.deadAfter = deadAfter;
        this.deadIds = new int[numLatents];
    }

    /** Counts a batch of {@code rows} rows whose selections are {@code codes}, then refreshes the dead list. */
    public void update(SparseCodes codes, int rows) {
        update(codes, rows, true);
    }

    /**
     * Counts a batch of {@code rows} rows whose codes are {@code codes}, then refreshes the dead list.
     *
     * @param zeroFires whether an entry with value 0 counts as firing
     */
    public void update(SparseCodes codes, int rows, boolean zeroFires) {
        for (int j = 0; j < sinceSelected.length; j++) {
            sinceSelected[j] += rows;
            sincePositive[j] += rows;
            firedInLastBatch[j] = 0;
        }
        int[] idx = codes.indices();
        float[] val = codes.values();
        for (int p = 0, end = codes.nnz(); p < end; p++) {
            if (zeroFires || val[p] > 0f) {
                sinceSelected[idx[p]] = 0;
            }
            if (val[p] > 0f) {
                sincePositive[idx[p]] = 0;
                firedInLastBatch[idx[p]]++;
            }
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

    /** Rows since each latent last had a positive activation. */
    public long[] sincePositive() {
        return sincePositive;
    }

    /** Positive activations of each latent in the last batch counted. */
    public int[] firedInLastBatch() {
        return firedInLastBatch;
    }

    /** The counters, for checkpoints. */
    public long[] sinceSelected() {
        return sinceSelected;
    }

    /** Restores counters saved by {@link #sinceSelected()} and {@link #sincePositive()}. */
    public void restore(long[] counters, long[] positive) {
        if (counters.length != sinceSelected.length || positive.length != sincePositive.length) {
            throw new IllegalArgumentException("dead-latent counters for " + counters.length + " and " + positive.length + " latents, expected "
                    + sinceSelected.length);
        }
        System.arraycopy(counters, 0, sinceSelected, 0, counters.length);
        System.arraycopy(positive, 0, sincePositive, 0, positive.length);
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
