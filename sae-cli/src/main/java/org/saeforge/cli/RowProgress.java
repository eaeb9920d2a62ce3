package org.saeforge.cli;

import java.io.PrintStream;
import java.text.DecimalFormat;
import java.time.temporal.ChronoUnit;
import me.tongfei.progressbar.ConsoleProgressBarConsumer;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;

/**
 * Progress over rows on stderr: a live bar on a terminal (or with {@code SAE_PROGRESS=bar}), else a plain line every
 * few seconds, so logs stay readable.
 */
final class RowProgress implements AutoCloseable {
    private static final long LINE_INTERVAL_NANOS = 5_000_000_000L;

    private final PrintStream err;
    private final String task;
    private final long total;
    private final ProgressBar bar;
    private final long start = System.nanoTime();
    private long lastLine = System.nanoTime();

    RowProgress(PrintStream err, String task, long total) {
        this.err = err;
        this.task = task;
        this.total = total;
        String mode = System.getenv("SAE_PROGRESS");
        boolean live = mode == null ? System.console() != null : "bar".equals(mode);
        this.bar = live ? new ProgressBarBuilder()
                .setTaskName(task)
                .setInitialMax(total)
                .setUnit(" rows", 1)
                .setStyle(ProgressBarStyle.ASCII)
                .setConsumer(new ConsoleProgressBarConsumer(err))
                .showSpeed(new DecimalFormat("#,##0"))
                .setSpeedUnit(ChronoUnit.SECONDS)
                .setUpdateIntervalMillis(500)
                .build() : null;
    }

    void stepTo(long rows) {
        if (bar != null) {
            bar.stepTo(rows);
            return;
        }
        long now = System.nanoTime();
        if (now - lastLine >= LINE_INTERVAL_NANOS) {
            lastLine = now;
            double secs = (now - start) / 1e9;
            err.printf("%s: %,d / %,d rows (%.0f%%), %,.0f rows/s%n", task, rows, total, 100.0 * rows / Math.max(1, total), rows / secs);
        }
    }

    @Override
    public void close() {
        if (bar != null) {
            bar.close();
        }
    }
}
