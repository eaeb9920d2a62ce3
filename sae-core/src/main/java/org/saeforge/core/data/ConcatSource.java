package org.saeforge.core.data;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.saeforge.core.SaeException;

/**
 * Several sources read as one, rows in order (all of the first, then the second...). Every part is opened and
 * checked before this exists, and all must have the same width. Row metadata columns present in any part are
 * present here; rows of parts without them read as absent (unknown modality, -1, null).
 */
public final class ConcatSource implements ActivationSource {
    private final List<ActivationSource> parts;
    private final long[] starts;
    private final int dIn;
    private final String dtype;
    private final RowMetadata metadata;

    /** Takes ownership of the parts (closing this closes them). */
    public ConcatSource(List<ActivationSource> parts) {
        if (parts.isEmpty()) {
            throw new SaeException("no activation files given");
        }
        this.parts = List.copyOf(parts);
        this.dIn = parts.get(0).dIn();
        this.starts = new long[parts.size() + 1];
        String t = parts.get(0).dtype();
        boolean anyMeta = false;
        for (int i = 0; i < parts.size(); i++) {
            ActivationSource p = parts.get(i);
            if (p.dIn() != dIn) {
                throw new SaeException("width mismatch: " + parts.get(0).path() + " has d_in " + dIn + " but " + p.path() + " has d_in "
                        + p.dIn());
            }
            if (!p.dtype().equals(t)) {
                t = "mixed";
            }
            anyMeta |= p.metadata() != null;
            starts[i + 1] = starts[i] + p.numRows();
        }
        this.dtype = t;
        this.metadata = anyMeta ? new ConcatMetadata() : null;
    }

    public List<ActivationSource> parts() {
        return parts;
    }

    /** First row of part i. */
    public long partStart(int i) {
        return starts[i];
    }

    /** The first input's path, with the count of the others: {@code a.h5 (+3 more)}, for messages and provenance. */
    @Override
    public Path path() {
        Path first = parts.get(0).path();
        return parts.size() == 1 ? first : Path.of(first + " (+" + (parts.size() - 1) + " more)");
    }

    @Override
    public int dIn() {
        return dIn;
    }

    @Override
    public long numRows() {
        return starts[parts.size()];
    }

    @Override
    public String dtype() {
        return dtype;
    }

    @Override
    public RowMetadata metadata() {
        return metadata;
    }

    private int partOf(long row) {
        int i = Arrays.binarySearch(starts, row);
        int p = i >= 0 ? i : -i - 2;
        while (p < parts.size() - 1 && starts[p + 1] <= row) {
            p++;
        }
        return p;
    }

    @Override
    public void readRows(long first, int count, float[] dst, int dstOffset) {
        if (first < 0 || count < 0 || first + count > numRows()) {
            throw new IndexOutOfBoundsException("rows [" + first + ", " + (first + count) + ") outside [0, " + numRows() + ")");
        }
        int done = 0;
        int p = partOf(first);
        while (done < count) {
            while (first + done >= starts[p + 1]) {
                p++;
            }
            int n = (int) Math.min(count - done, starts[p + 1] - (first + done));
            parts.get(p).readRows(first + done - starts[p], n, dst, dstOffset + done * dIn);
            done += n;
        }
    }

    @Override
    public void close() {
        RuntimeException first = null;
        for (ActivationSource p : parts) {
            try {
                p.close();
            } catch (RuntimeException e) {
                first = first == null ? e : first;
            }
        }
        if (first != null) {
            throw first;
        }
    }

    /** Opens all paths with {@code opener}, closing those already open when one fails. */
    static ConcatSource openAll(List<Path> paths, java.util.function.Function<Path, ActivationSource> opener) {
        List<ActivationSource> open = new ArrayList<>();
        try {
            for (Path p : paths) {
                open.add(opener.apply(p));
            }
            return new ConcatSource(open);
        } catch (RuntimeException e) {
            for (ActivationSource s : open) {
                try {
                    s.close();
                } catch (RuntimeException ignored) {
                    // the first error is the one to report
                }
            }
            throw e;
        }
    }

    private final class ConcatMetadata implements RowMetadata {
        private RowMetadata of(long row) {
            return parts.get(partOf(row)).metadata();
        }

        private long local(long row) {
            return row - starts[partOf(row)];
        }

        @Override
        public boolean hasModality() {
            return parts.stream().anyMatch(p -> p.metadata() != null && p.metadata().hasModality());
        }

        @Override
        public boolean hasSourceId() {
            return parts.stream().anyMatch(p -> p.metadata() != null && p.metadata().hasSourceId());
        }

        @Override
        public boolean hasPosition() {
            return parts.stream().anyMatch(p -> p.metadata() != null && p.metadata().hasPosition());
        }

        @Override
        public boolean hasLabel() {
            return parts.stream().anyMatch(p -> p.metadata() != null && p.metadata().hasLabel());
        }

        @Override
        public Modality modality(long row) {
            RowMetadata m = of(row);
            return m == null ? Modality.UNKNOWN : m.modality(local(row));
        }

        @Override
        public long sourceId(long row) {
            RowMetadata m = of(row);
            return m == null ? -1 : m.sourceId(local(row));
        }

        @Override
        public long position(long row) {
            RowMetadata m = of(row);
            return m == null ? -1 : m.position(local(row));
        }

        @Override
        public String label(long row) {
            RowMetadata m = of(row);
            return m == null ? null : m.label(local(row));
        }
    }
}
