package org.saeforge.core.kernels;

import org.saeforge.core.tensor.SparseCodes;

/**
 * A request to {@link Kernels#encode} for the AuxK selection: per row, the {@code kAux} largest pre-activations
 * among the latents listed in {@code deadIds}, ReLU'd, written to {@code out} as fixed-k codes.
 *
 * @param deadIds ascending ids of the dead latents; the first {@code numDead} are used
 * @param numDead number of dead latents (at least 1)
 * @param kAux    latents to select per row, {@code 1 <= kAux <= numDead}
 * @param out     receives {@code kAux} entries per row
 */
public record AuxSelection(int[] deadIds, int numDead, int kAux, SparseCodes out) {
    public AuxSelection {
        if (numDead < 1 || numDead > deadIds.length) {
            throw new IllegalArgumentException("numDead " + numDead + " outside [1, " + deadIds.length + "]");
        }
        if (kAux < 1 || kAux > numDead) {
            throw new IllegalArgumentException("kAux " + kAux + " outside [1, numDead=" + numDead + "]");
        }
    }
}
