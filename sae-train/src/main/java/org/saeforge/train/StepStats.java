package org.saeforge.train;

/**
 * What one training step measured on its batch.
 *
 * @param fvu       training-batch FVU of the full reconstruction: Σ‖x − x̂‖² / Σ‖x − mean‖²
 * @param auxK      AuxK loss (0 when no latent is dead or the architecture has none)
 * @param l0        mean strictly positive latents per row
 * @param numDead   latents dead before this step
 * @param sparsity  the sparsity penalty term (ReLU L1, JumpReLU L0; 0 otherwise), coefficient included
 * @param loss      the total loss minimised
 * @param prefixFvu Matryoshka: FVU of each nested prefix, shortest first; null otherwise
 */
public record StepStats(double fvu, double auxK, double l0, int numDead, double sparsity, double loss, double[] prefixFvu) {

    /** Stats of a reconstruction-only objective (TopK): loss = FVU + AuxK term. */
    public StepStats(double fvu, double auxK, double l0, int numDead) {
        this(fvu, auxK, l0, numDead, 0, fvu + auxK, null);
    }
}
