package org.saeforge.core.data;

/**
 * Per-row facts that travel with activations (FORMATS.md): modality, source id (image or caption id), position
 * (patch or token index) and a label (caption, class name or token text). Any of them may be absent; absent values
 * are reported as {@link Modality#UNKNOWN}, -1 or null, and the {@code has*} methods say which exist at all, so that
 * consumers never invent values. Row numbers are those of the {@link ActivationSource} it belongs to.
 */
public interface RowMetadata {

    boolean hasModality();

    boolean hasSourceId();

    boolean hasPosition();

    boolean hasLabel();

    Modality modality(long row);

    /** Source id or -1. */
    long sourceId(long row);

    /** Position or -1. */
    long position(long row);

    /** Label or null. */
    String label(long row);
}
