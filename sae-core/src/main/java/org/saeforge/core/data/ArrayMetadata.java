package org.saeforge.core.data;

/**
 * Row metadata held in arrays (from a CSV sidecar or small HDF5 columns). A null array means the column is absent.
 * Modality codes: 0 image, 1 text, anything else unknown.
 */
final class ArrayMetadata implements RowMetadata {
    private final byte[] modality;
    private final long[] sourceId;
    private final long[] position;
    private final String[] label;

    ArrayMetadata(byte[] modality, long[] sourceId, long[] position, String[] label) {
        this.modality = modality;
        this.sourceId = sourceId;
        this.position = position;
        this.label = label;
    }

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
        return modality == null ? Modality.UNKNOWN : Modality.fromCode(modality[(int) row]);
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
