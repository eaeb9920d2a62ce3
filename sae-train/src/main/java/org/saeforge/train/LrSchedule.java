package org.saeforge.train;

/**
 * Linear warm-up from 0 over {@code warmupSteps}, then linear decay to 0 at the last step (the schedule of sparsify
 * and transformers' {@code get_linear_schedule_with_warmup}). Step numbers are 0-based.
 */
public record LrSchedule(double peakLr, long warmupSteps, long totalSteps) {

    public double lrAt(long step) {
        if (step < warmupSteps) {
            return peakLr * step / Math.max(1, warmupSteps);
        }
        return peakLr * Math.max(0.0, (double) (totalSteps - step) / Math.max(1, totalSteps - warmupSteps));
    }
}
