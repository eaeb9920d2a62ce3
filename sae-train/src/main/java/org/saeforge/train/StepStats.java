package org.saeforge.train;

/**
 * What one training step measured on its batch.
 *
 * @param fvu       training-batch FVU: Σ‖x − x̂‖² / Σ‖x − mean‖²
 * @param auxK      AuxK loss (0 when no latent is dead)
 * @param l0        mean strictly positive latents per row
 * @param numDead   latents dead before this step (fed to AuxK)
 */
public record StepStats(double fvu, double auxK, double l0, int numDead) {
}
