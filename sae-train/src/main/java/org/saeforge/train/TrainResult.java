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
 */
public record TrainResult(SparseAutoencoder sae, EvalMetrics eval, long tokens, long steps, double trainSeconds,
                          double mmcs, double recovered, long badRowsSkipped, String backend) {

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
        o.put("backend", backend);
        return o;
    }
}
