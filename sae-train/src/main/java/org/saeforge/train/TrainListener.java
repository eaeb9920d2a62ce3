package org.saeforge.train;

/** Progress callbacks from the {@link Trainer}; every method has a do-nothing default. */
public interface TrainListener {

    /** Training is about to start. */
    default void onStart(long totalSteps, long totalTokens, String description) {
    }

    /**
     * A logged step finished (every {@code logEvery} steps and the last one).
     *
     * @param rowsPerSec training throughput since the start of the loop
     */
    default void onStep(long step, long tokens, double lr, StepStats stats, double rowsPerSec) {
    }

    /** The training loop ended; held-out evaluation starts. */
    default void onTrainingDone(long steps, double seconds) {
    }

    /** A message worth showing the user (data summary, skipped rows). */
    default void onInfo(String message) {
    }
}
