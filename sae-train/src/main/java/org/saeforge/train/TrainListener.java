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

    /**
     * A logged step finished for every SAE of the run (one for a single run, several for a sweep). The default reports
     * the first SAE through {@link #onStep}.
     *
     * @param names the SAEs' names (one empty name for a single run)
     * @param stats their step statistics, in the same order
     */
    default void onMembersStep(long step, long tokens, double lr, java.util.List<String> names, java.util.List<StepStats> stats,
                               double rowsPerSec) {
        onStep(step, tokens, lr, stats.get(0), rowsPerSec);
    }

    /** A checkpoint of the state after {@code step} steps was written to {@code dir}. */
    default void onCheckpoint(long step, java.nio.file.Path dir) {
    }

    /** The training loop ended; held-out evaluation starts. */
    default void onTrainingDone(long steps, double seconds) {
    }

    /** A message worth showing the user (data summary, skipped rows). */
    default void onInfo(String message) {
    }
}
