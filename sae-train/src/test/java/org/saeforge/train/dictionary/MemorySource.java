package org.saeforge.train.dictionary;

import java.nio.file.Path;
import org.saeforge.core.data.ActivationSource;
import org.saeforge.core.data.Modality;
import org.saeforge.core.data.RowMetadata;

/** An in-memory activation source with optional row metadata, for tests with planted answers. */
final class MemorySource implements ActivationSource {
    private final float[] data;
    private final int dIn;
    private final RowMetadata metadata;

    MemorySource(float[] data, int dIn, RowMetadata metadata) {
        this.data = data;
        this.dIn = dIn;
        this.metadata = metadata;
    }

    @Override
    public Path path() {
        return Path.of("memory.npy");
    }

    @Override
    public int dIn() {
        return dIn;
    }

    @Override
    public long numRows() {
        return data.length / dIn;
    }

    @Override
    public String dtype() {
        return "float32";
    }

    @Override
    public void readRows(long first, int count, float[] dst, int dstOffset) {
        System.arraycopy(data, (int) first * dIn, dst, dstOffset, count * dIn);
    }

    @Override
    public RowMetadata metadata() {
        return metadata;
    }

    @Override
    public void close() {
    }

    /** Metadata from arrays; a null array means the column is absent. */
    record Meta(Modality[] modality, long[] sourceId, long[] position, String[] label) implements RowMetadata {
        @Override
        public boolean hasModality() {
            return modality != null;
        }

        @Override
        public boolean hasSourceId() {
            return sourceId != null;
        }

        @Override
        public boolean hasPosition() {
            return position != null;
        }

        @Override
        public boolean hasLabel() {
            return label != null;
        }

        @Override
        public Modality modality(long row) {
            return modality == null ? Modality.UNKNOWN : modality[(int) row];
        }

        @Override
        public long sourceId(long row) {
            return sourceId == null ? -1 : sourceId[(int) row];
        }

        @Override
        public long position(long row) {
            return position == null ? -1 : position[(int) row];
        }

        @Override
        public String label(long row) {
            return label == null ? null : label[(int) row];
        }
    }
}
