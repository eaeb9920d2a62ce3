package org.saeforge.core.data;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.Locale;
import org.saeforge.core.SaeException;

/**
 * The rows of one modality of a source ({@code --modality image|text}), as a source of their own. The rows are
 * found once, when this opens, by scanning the modality column; they are kept as runs of consecutive rows (image
 * patches and caption tokens come in runs), so memory grows with the number of runs, not rows. Row metadata is
 * carried along, renumbered.
 */
public final class ModalityFilter implements ActivationSource {
    private final ActivationSource inner;
    private final Modality modality;
    private final long[] runStart;
    private final long[] runOffset;
    private final int runs;
    private final long numRows;
    private final RowMetadata metadata;

    private ModalityFilter(ActivationSource inner, Modality modality) {
        RowMetadata m = inner.metadata();
        if (m == null || !m.hasModality()) {
            throw new SaeException(inner.path() + ": --modality " + modality.cliName()
                    + " needs row metadata with a modality column (HDF5 sibling dataset \"modality\", a NAME.meta.csv sidecar or shard columns)");
        }
        this.inner = inner;
        this.modality = modality;
        long[] starts = new long[16];
        long[] offsets = new long[17];
        int n = 0;
        long count = 0;
        long total = inner.numRows();
        for (long r = 0; r < total; ) {
            if (m.modality(r) != modality) {
                r++;
                continue;
            }
            long s = r;
            while (r < total && m.modality(r) == modality) {
                r++;
            }
            if (n == starts.length) {
                starts = Arrays.copyOf(starts, n * 2);
                offsets = Arrays.copyOf(offsets, n * 2 + 1);
            }
            starts[n] = s;
            offsets[n] = count;
            count += r - s;
            n++;
        }
        offsets[n] = count;
        this.runStart = starts;
        this.runOffset = offsets;
        this.runs = n;
        this.numRows = count;
        if (count == 0) {
            throw new SaeException(inner.path() + ": no " + modality.cliName() + " rows (--modality " + modality.cliName() + ")");
        }
        this.metadata = new FilteredMetadata(m);
    }

    /**
     * Wraps {@code source} to keep only rows of {@code modalityName} ({@code image}, {@code text}); {@code all} or
     * null returns the source itself.
     */
    public static ActivationSource apply(ActivationSource source, String modalityName) {
        if (modalityName == null || modalityName.equalsIgnoreCase("all")) {
            return source;
        }
        String s = modalityName.toLowerCase(Locale.ROOT);
        if (!s.equals("image") && !s.equals("text")) {
            throw new SaeException("--modality must be image, text or all, got '" + modalityName + "'");
        }
        return new ModalityFilter(source, Modality.parse(s));
    }

    public Modality modality() {
        return modality;
    }

    /** The row of the underlying source that row {@code row} of this one is. */
    public long innerRow(long row) {
        int i = Arrays.binarySearch(runOffset, 0, runs + 1, row);
        int run = i >= 0 ? i : -i - 2;
        while (run < runs - 1 && runOffset[run + 1] <= row) {
            run++;
        }
        return runStart[run] + (row - runOffset[run]);
    }

    @Override
    public Path path() {
        return inner.path();
    }

    @Override
    public int dIn() {
        return inner.dIn();
    }

    @Override
    public long numRows() {
        return numRows;
    }

    @Override
    public String dtype() {
        return inner.dtype();
    }

    @Override
    public RowMetadata metadata() {
        return metadata;
    }

    @Override
    public void readRows(long first, int count, float[] dst, int dstOffset) {
        if (first < 0 || count < 0 || first + count > numRows) {
            throw new IndexOutOfBoundsException("rows [" + first + ", " + (first + count) + ") outside [0, " + numRows + ")");
        }
        int d = inner.dIn();
        int done = 0;
        while (done < count) {
            long row = first + done;
            long in = innerRow(row);
            int i = Arrays.binarySearch(runOffset, 0, runs + 1, row);
            int run = i >= 0 ? i : -i - 2;
            while (run < runs - 1 && runOffset[run + 1] <= row) {
                run++;
            }
            int n = (int) Math.min(count - done, runOffset[run + 1] - row);
            inner.readRows(in, n, dst, dstOffset + done * d);
            done += n;
        }
    }

    @Override
    public void close() {
        inner.close();
    }

    private final class FilteredMetadata implements RowMetadata {
        private final RowMetadata m;

        FilteredMetadata(RowMetadata m) {
            this.m = m;
        }

        @Override
        public boolean hasModality() {
            return true;
        }

        @Override
        public boolean hasSourceId() {
            return m.hasSourceId();
        }

        @Override
        public boolean hasPosition() {
            return m.hasPosition();
        }

        @Override
        public boolean hasLabel() {
            return m.hasLabel();
        }

        @Override
        public Modality modality(long row) {
            return m.modality(innerRow(row));
        }

        @Override
        public long sourceId(long row) {
            return m.sourceId(innerRow(row));
        }

        @Override
        public long position(long row) {
            return m.position(innerRow(row));
        }

        @Override
        public String label(long row) {
            return m.label(innerRow(row));
        }
    }
}
