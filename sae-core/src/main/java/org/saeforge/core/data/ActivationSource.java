package org.saeforge.core.data;

import java.nio.ByteBuffer;
import java.nio.file.Path;

/**
 * Rows of cached activations, all of width {@link #dIn()}, readable by row range in any order. Implementations
 * read lazily (memory maps or positional reads) so a source may be far larger than RAM, and they validate their
 * header, dtype and size when opened, so a bad file fails before any training starts. Reads widen to float32.
 * {@link #readRows} may be called from several threads at once.
 */
public interface ActivationSource extends AutoCloseable {

    /** The file (or directory) this source reads, for messages. */
    Path path();

    /** Input width. */
    int dIn();

    /** Number of rows (3-D inputs are flattened: images x patches). */
    long numRows();

    /** Stored element type: {@code float32}, {@code float16} or {@code bfloat16}. */
    String dtype();

    /** Reads rows [first, first + count) into {@code dst} starting at {@code dstOffset}, row-major, as float32. */
    void readRows(long first, int count, float[] dst, int dstOffset);

    /**
     * Bytes per element when rows can be copied as stored ({@link #readRawRows}): 4 for float32, 2 for float16 and
     * bfloat16; 0 when this source only reads rows widened to float32.
     */
    default int rawElementBytes() {
        return 0;
    }

    /**
     * Copies rows [first, first + count) as stored ({@link #dtype()}, little-endian, row-major, no widening) into
     * {@code dst} at {@code dstIndex}; needs {@code count * dIn() * rawElementBytes()} bytes there. May be called from
     * several threads at once.
     *
     * @throws UnsupportedOperationException when {@link #rawElementBytes()} is 0
     */
    default void readRawRows(long first, int count, ByteBuffer dst, int dstIndex) {
        throw new UnsupportedOperationException(path() + ": rows of this source can only be read as float32");
    }

    /**
     * Copies the rows {@code ids[from .. to)} as stored ({@link #readRawRows}), one after another, into {@code dst} at
     * {@code dstIndex}. Sources that check their file before a read do so once per call here, not once per row (a
     * check is a stat of the file: per row it halved the GPU input pipeline's gather rate). May be called from several
     * threads at once.
     *
     * @throws UnsupportedOperationException when {@link #rawElementBytes()} is 0
     */
    default void readRawRowsAt(long[] ids, int from, int to, ByteBuffer dst, int dstIndex) {
        int rowBytes = dIn() * rawElementBytes();
        for (int i = from; i < to; i++) {
            readRawRows(ids[i], 1, dst, dstIndex + (i - from) * rowBytes);
        }
    }

    /** Row metadata aligned with this source's rows, or null when the source has none. */
    default RowMetadata metadata() {
        return null;
    }

    @Override
    void close();
}
