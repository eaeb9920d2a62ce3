package org.saeforge.train;

import org.saeforge.core.kernels.Kernels;
import org.saeforge.core.model.SparseAutoencoder;
import org.saeforge.core.tensor.FloatMatrix;
import org.saeforge.core.tensor.SparseCodes;

/**
 * A training loss of one architecture and its gradient, computed through {@link Kernels} operations: only the encoder
 * product touches every latent, everything after it works on the selected (sparse) latents.
 */
public interface Objective {

    /**
     * What a step needs beyond the batch.
     *
     * @param k             active latents per row in force (annealed k; TopK, BatchTopK, Matryoshka)
     * @param sparsityScale warm-up multiplier of the L1/L0 coefficient, in [0, 1]
     * @param deadIds       ascending dead latent ids (first numDead used), for AuxK
     * @param numDead       number of dead latents (0: no AuxK)
     */
    record StepInputs(int k, double sparsityScale, int[] deadIds, int numDead) {
    }

    /** Forward and backward on one batch; writes the gradient into {@code g} (zeroed first). */
    StepStats lossAndGradient(Kernels kernels, SparseAutoencoder sae, FloatMatrix x, StepInputs in, Gradients g);

    /** Codes of the last batch (valid until the next call); their entries mark which latents fired. */
    SparseCodes codes();

    /** True when a selected entry counts as firing even with value 0 (TopK, as sparsify); else only positive ones. */
    default boolean zeroSelectionsFire() {
        return false;
    }
}
