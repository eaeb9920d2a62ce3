package org.saeforge.train;

import java.util.Locale;
import org.saeforge.core.SaeException;

/**
 * Linear warm-up from 0 over {@code warmupSteps}, then the peak until {@code decayStart}, then a decay of the given
 * shape to {@code finalFraction × peak} at the last step. With decayStart = warmupSteps and finalFraction 0 the linear
 * shape is the schedule of sparsify and transformers' {@code get_linear_schedule_with_warmup}. Step numbers are
 * 0-based.
 *
 * @param peakLr        learning rate after warm-up
 * @param warmupSteps   steps of linear warm-up from 0
 * @param decayStart    first step of the decay (at least warmupSteps)
 * @param totalSteps    steps in the run
 * @param shape         constant, linear or cosine decay
 * @param finalFraction learning rate at the end as a fraction of the peak
 */
public record LrSchedule(double peakLr, long warmupSteps, long decayStart, long totalSteps, Shape shape, double finalFraction) {

    /** How the learning rate falls after {@code decayStart}. */
    public enum Shape {
        CONSTANT, LINEAR, COSINE;

        public String cliName() {
            return name().toLowerCase(Locale.ROOT);
        }

        public static Shape fromCliName(String s) {
            for (Shape v : values()) {
                if (v.cliName().equals(s.toLowerCase(Locale.ROOT))) {
                    return v;
                }
            }
            throw new SaeException("unknown --lr-schedule '" + s + "' (expected constant, linear or cosine)");
        }
    }

    /** Warm-up, then linear decay to 0 (the foundation's schedule). */
    public LrSchedule(double peakLr, long warmupSteps, long totalSteps) {
        this(peakLr, warmupSteps, warmupSteps, totalSteps, Shape.LINEAR, 0);
    }

    public double lrAt(long step) {
        if (step < warmupSteps) {
            return peakLr * step / Math.max(1, warmupSteps);
        }
        long start = Math.max(decayStart, warmupSteps);
        if (shape == Shape.CONSTANT || step < start) {
            return peakLr;
        }
        double p = Math.min(1.0, (double) (step - start) / Math.max(1, totalSteps - start));
        double f = shape == Shape.LINEAR ? 1 - p * (1 - finalFraction)
                : finalFraction + (1 - finalFraction) * 0.5 * (1 + Math.cos(Math.PI * p));
        return peakLr * f;
    }
}
