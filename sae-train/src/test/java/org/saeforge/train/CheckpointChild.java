package org.saeforge.train;

import java.nio.file.Path;
import java.util.Map;
import org.saeforge.core.data.ActivationSource;
import org.saeforge.core.data.ActivationSources;
import org.saeforge.core.model.Architecture;

/**
 * The training process {@link CheckpointResumeTest} kills: a BatchTopK run with checkpoints every 2 steps that sleeps
 * after each step, so that the kill lands mid-run (the sleep changes timing only, never results).
 */
public final class CheckpointChild {
    private CheckpointChild() {
    }

    static TrainConfig config() {
        return CheckpointResumeTest.config(Architecture.BATCH_TOPK).toBuilder().tokens(256 * 40).checkpointEvery(2 * 256).build();
    }

    public static void main(String[] args) {
        TrainListener slow = new TrainListener() {
            @Override
            public void onMembersStep(long step, long tokens, double lr, java.util.List<String> names, java.util.List<StepStats> stats,
                                      double rps) {
                try {
                    Thread.sleep(150);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
        };
        try (ActivationSource src = ActivationSources.open(Path.of(args[0]))) {
            new Trainer(config(), slow).train(src, Path.of(args[1]), null, Map.of());
        }
    }
}
