package org.saeforge.train;

import com.fasterxml.jackson.databind.node.ObjectNode;
import org.saeforge.core.io.Json;

/**
 * Held-out quality of a SAE.
 *
 * @param fvu               Σ‖x − x̂‖² / Σ‖x − mean‖² over the evaluated rows
 * @param mse               Σ‖x − x̂‖² / (rows · dIn)
 * @param l0                mean strictly positive latents per row
 * @param deadFraction      share of latents that never fired on the evaluated rows (on a few thousand rows this also
 *                          counts latents that are merely rare: {@link #rareFraction()} tells them apart on more rows)
 * @param denseFraction     share of latents that fired on more than 10% of the rows
 * @param rows              rows evaluated
 * @param skippedRows       rows skipped for holding NaN or infinity
 * @param density           per-latent firing frequency on the evaluated rows
 * @param outlierRows       rows left out for a norm above the {@code --max-norm-ratio} limit
 */
public record EvalMetrics(double fvu, double mse, double l0, double deadFraction, double denseFraction, long rows,
                          long skippedRows, double[] density, long outlierRows) {
    /** Firing frequency below which a latent that fires counts as rare: 1 in 10,000 rows. */
    public static final double RARE_BELOW = 1e-4;

    /** Metrics of an evaluation without a norm limit. */
    public EvalMetrics(double fvu, double mse, double l0, double deadFraction, double denseFraction, long rows, long skippedRows,
                       double[] density) {
        this(fvu, mse, l0, deadFraction, denseFraction, rows, skippedRows, density, 0);
    }

    /** The metrics as a JSON object with the field names the CLI prints. */
    public ObjectNode toJson() {
        ObjectNode o = Json.object();
        o.put("fvu", fvu);
        o.put("mse", mse);
        o.put("l0", l0);
        o.put("dead_fraction", deadFraction);
        o.put("dense_fraction", denseFraction);
        o.put("rare_fraction", rareFraction());
        o.put("rows_evaluated", rows);
        if (skippedRows > 0) {
            o.put("rows_skipped_bad", skippedRows);
        }
        if (outlierRows > 0) {
            o.put("rows_skipped_outlier", outlierRows);
        }
        return o;
    }

    /** Latents rarer than 1 in 10,000 rows that are not dead: see {@link #rareFraction(double[])}. */
    public double rareFraction() {
        return rareFraction(density);
    }

    /**
     * Share of latents that fired on the evaluated rows, but on fewer than {@link #RARE_BELOW} of them: 0 on fewer
     * than 10,000 rows, where one firing is already that frequent. Evaluated on 100k rows or more, it tells the latents
     * that a short evaluation counts as dead but that do fire (sparsify's and SAELens's dead windows are millions of
     * rows) from those that never fire.
     */
    public static double rareFraction(double[] density) {
        if (density == null || density.length == 0) {
            return 0;
        }
        int rare = 0;
        for (double f : density) {
            if (f > 0 && f < RARE_BELOW) {
                rare++;
            }
        }
        return (double) rare / density.length;
    }

    /** log10 firing frequency per latent (SAELens sparsity.safetensors); never-firing latents get log10(1e-10) = -10. */
    public float[] log10Density() {
        float[] s = new float[density.length];
        for (int j = 0; j < s.length; j++) {
            s[j] = (float) Math.log10(density[j] + 1e-10);
        }
        return s;
    }
}
