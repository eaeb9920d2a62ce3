package org.saeforge.train;

import com.fasterxml.jackson.databind.node.ObjectNode;
import org.saeforge.core.model.SparseAutoencoder;

/**
 * The outcome of {@link Trainer#train}.
 *
 * @param sae            the trained model
 * @param eval           held-out metrics
 * @param tokens         rows trained on
 * @param steps          optimiser steps
 * @param trainSeconds   wall time of the training loop only (no data loading, initialisation or evaluation)
 * @param mmcs           mean max cosine to the ground truth, or NaN without one
 * @param recovered      share of true features with a decoder row at cosine above 0.9, or NaN
 * @param badRowsSkipped training rows skipped for NaN or infinity
 * @param backend        the kernels that ran, e.g. {@code cpu/openblas(SkylakeX)}
 * @param outlierRowsDropped training rows dropped for a norm above the {@code --max-norm-ratio} limit
 * @param normScale      the activation scale trained with and folded into the weights (1 without normalization)
 * @param windowDeadFraction share of latents that did not fire in the last {@code deadWindowRows} training rows (the
 *                       dead-latent definition of AuxK, SAELens and sparsify), or NaN where it was not tracked
 * @param deadWindowRows the dead window in rows
 */
public record TrainResult(SparseAutoencoder sae, EvalMetrics eval, long tokens, long steps, double trainSeconds,
                          double mmcs, double recovered, long badRowsSkipped, String backend, long outlierRowsDropped,
                          double normScale, double windowDeadFraction, long deadWindowRows) {

    /** A result of a run without outlier filtering or normalization. */
    public TrainResult(SparseAutoencoder sae, EvalMetrics eval, long tokens, long steps, double trainSeconds, double mmcs,
                       double recovered, long badRowsSkipped, String backend) {
        this(sae, eval, tokens, steps, trainSeconds, mmcs, recovered, badRowsSkipped, backend, 0, 1, Double.NaN, 0);
    }

    public double rowsPerSec() {
        return tokens / Math.max(trainSeconds, 1e-9);
    }

    /** The final metrics object printed by {@code sae train} (one JSON line). */
    public ObjectNode toJson() {
        ObjectNode o = eval.toJson();
        o.put("tokens", tokens);
        o.put("steps", steps);
        o.put("rows_per_sec", Math.round(rowsPerSec() * 10) / 10.0);
        o.put("train_seconds", Math.round(trainSeconds * 100) / 100.0);
        if (!Double.isNaN(mmcs)) {
            o.put("mmcs", mmcs);
            o.put("recovered_fraction", recovered);
        }
        if (badRowsSkipped > 0) {
            o.put("train_rows_skipped_bad", badRowsSkipped);
        }
        if (outlierRowsDropped > 0) {
            o.put("train_rows_skipped_outlier", outlierRowsDropped);
        }
        if (normScale != 1) {
            o.put("activation_scale", normScale);
        }
        if (!Double.isNaN(windowDeadFraction)) {
            o.put("dead_fraction_window", windowDeadFraction);
            o.put("dead_window_rows", deadWindowRows);
        }
        o.put("backend", backend);
        return o;
    }
}
