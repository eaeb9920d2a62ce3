package org.saeforge.train.dictionary;

/** Progress of a dictionary build; every method has an empty default. */
public interface DictionaryListener {

    /** The streaming pass starts over {@code totalRows} rows. */
    default void onStart(long totalRows, String description) {
    }

    /** {@code rowsDone} of the rows have been read (called after every batch). */
    default void onRows(long rowsDone) {
    }

    /** The streaming pass is over; what follows (nearest latents, labels, writing) is reported through onInfo. */
    default void onPassDone(long rows, double seconds) {
    }

    default void onInfo(String message) {
    }
}
