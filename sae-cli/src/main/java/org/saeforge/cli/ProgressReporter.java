package org.saeforge.cli;

import java.io.PrintStream;
import me.tongfei.progressbar.ProgressBar;
import org.saeforge.train.StepStats;
import org.saeforge.train.TrainListener;

/**
 * Training progress on stderr: a live progress bar (rows/s, ETA, FVU, L0, dead) on a terminal, or one plain line
 * every few seconds when the output is redirected (logs, CI), so files stay readable.
 */
final class ProgressReporter implements TrainListener {
    private static final long LINE_INTERVAL_NANOS = 5_000_000_000L;

    private final PrintStream err;
    private final boolean live;
    private ProgressBar bar;
    private long totalSteps;
    private long lastLine;
    private final long start = System.nanoTime();

    ProgressReporter(PrintStream err) {
        this.err = err;
        String mode = System.getenv("SAE_PROGRESS");
        this.live = mode == null ? System.console() != null : "bar".equals(mode);
    }

    @Override
    public void onStart(long steps, long totalTokens, String description) {
        this.totalSteps = steps;
        err.println(description);
        if (live) {
            bar = RowProgress.newBar(err, "train", totalTokens);
        }
        lastLine = System.nanoTime();
    }

    @Override
    public void onStep(long step, long tokens, double lr, StepStats s, double rowsPerSec) {
        String stats = String.format("fvu %.4f  l0 %.1f  dead %d", s.fvu(), s.l0(), s.numDead());
        if (bar != null) {
            bar.stepTo(tokens);
            bar.setExtraMessage(" " + stats);
            return;
        }
        long now = System.nanoTime();
        if (now - lastLine >= LINE_INTERVAL_NANOS || step == totalSteps) {
            lastLine = now;
            double elapsed = (now - start) / 1e9;
            double eta = step > 0 ? elapsed / step * (totalSteps - step) : 0;
            err.printf("step %d/%d  %,.0f rows/s  eta %s  %s  lr %.3g%n", step, totalSteps, rowsPerSec, duration(eta), stats, lr);
        }
    }

    @Override
    public void onMembersStep(long step, long tokens, double lr, java.util.List<String> names, java.util.List<StepStats> stats,
                              double rowsPerSec) {
        if (names.size() == 1) {
            onStep(step, tokens, lr, stats.get(0), rowsPerSec);
            return;
        }
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < names.size(); i++) {
            StepStats s = stats.get(i);
            sb.append(String.format("  [%s fvu %.4f l0 %.1f dead %d]", names.get(i), s.fvu(), s.l0(), s.numDead()));
        }
        if (bar != null) {
            bar.stepTo(tokens);
            bar.setExtraMessage(String.format(" %d SAEs", names.size()));
        }
        long now = System.nanoTime();
        if (bar == null && (now - lastLine >= LINE_INTERVAL_NANOS || step == totalSteps)) {
            lastLine = now;
            double elapsed = (now - start) / 1e9;
            double eta = step > 0 ? elapsed / step * (totalSteps - step) : 0;
            err.printf("step %d/%d  %,.0f rows/s  eta %s%s%n", step, totalSteps, rowsPerSec, duration(eta), sb);
        }
    }

    @Override
    public void onCheckpoint(long step, java.nio.file.Path dir) {
        if (bar == null) {
            err.println("checkpoint " + dir);
        }
    }

    @Override
    public void onTrainingDone(long steps, double seconds) {
        if (bar != null) {
            bar.close();
            bar = null;
        }
        err.printf("trained %d steps in %s; evaluating on held-out rows%n", steps, duration(seconds));
    }

    @Override
    public void onInfo(String message) {
        err.println(message);
    }

    static String duration(double seconds) {
        long s = Math.round(seconds);
        if (s < 60) {
            return s + "s";
        }
        if (s < 3600) {
            return String.format("%dm%02ds", s / 60, s % 60);
        }
        return String.format("%dh%02dm", s / 3600, (s % 3600) / 60);
    }
}
