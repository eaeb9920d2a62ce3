package org.saeforge.cli;

import java.io.PrintStream;
import java.text.DecimalFormat;
import java.time.temporal.ChronoUnit;
import me.tongfei.progressbar.ConsoleProgressBarConsumer;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;
import org.saeforge.train.dictionary.DictionaryListener;

/**
 * Progress of a pass over rows on stderr: a live bar (rows/s, ETA) on a terminal, or one plain line every few seconds
 * when stderr is redirected, as {@link ProgressReporter} does for training ({@code SAE_PROGRESS=bar|lines} overrides).
 */
final class RowProgress implements DictionaryListener, AutoCloseable {
    private static final long LINE_INTERVAL_NANOS = 5_000_000_000L;

    private final PrintStream err;
    private final String task;
    private final boolean live;
    private ProgressBar bar;
    private long total;
    private long start;
    private long lastLine;

    RowProgress(PrintStream err, String task) {
        this.err = err;
        this.task = task;
        String mode = System.getenv("SAE_PROGRESS");
        this.live = mode == null ? System.console() != null : "bar".equals(mode);
    }

    /** A progress display over {@code totalRows} rows that starts right away, without a description line. */
    RowProgress(PrintStream err, String task, long totalRows) {
        this(err, task);
        begin(totalRows);
    }

    @Override
    public void onStart(long totalRows, String description) {
        err.println(description);
        begin(totalRows);
    }

    private void begin(long totalRows) {
        total = totalRows;
        start = System.nanoTime();
        lastLine = start;
        if (live) {
            bar = newBar(err, task, totalRows);
        }
    }

    @Override
    public void onRows(long rowsDone) {
        if (bar != null) {
            bar.stepTo(rowsDone);
            return;
        }
        long now = System.nanoTime();
        if (now - lastLine >= LINE_INTERVAL_NANOS || rowsDone == total) {
            lastLine = now;
            double elapsed = (now - start) / 1e9;
            double rate = rowsDone / Math.max(elapsed, 1e-9);
            double eta = rowsDone > 0 ? elapsed / rowsDone * (total - rowsDone) : 0;
            err.printf("%s %,d/%,d rows  %,.0f rows/s  eta %s%n", task, rowsDone, total, rate, ProgressReporter.duration(eta));
        }
    }

    @Override
    public void onPassDone(long rows, double seconds) {
        closeBar();
        err.printf("%s: read %,d rows in %s%n", task, rows, ProgressReporter.duration(seconds));
    }

    @Override
    public void onInfo(String message) {
        closeBar();
        err.println(message);
    }

    /** The live bar both progress displays use: rows done of {@code totalRows}, rows/s, elapsed and ETA. */
    static ProgressBar newBar(PrintStream err, String task, long totalRows) {
        return new ProgressBarBuilder()
                .setTaskName(task)
                .setInitialMax(totalRows)
                .setUnit(" rows", 1)
                .setStyle(ProgressBarStyle.ASCII)
                .setConsumer(new ConsoleProgressBarConsumer(err))
                .showSpeed(new DecimalFormat("#,##0"))
                .setSpeedUnit(ChronoUnit.SECONDS)
                .setUpdateIntervalMillis(500)
                .build();
    }

    @Override
    public void close() {
        closeBar();
    }

    void closeBar() {
        if (bar != null) {
            bar.close();
            bar = null;
        }
    }
}
