package org.saeforge.core.data;

import java.nio.ByteBuffer;
import java.nio.file.Path;

/**
 * An activation source whose rows are one memory-mapped array ({@link MappedRows}): everything but opening and
 * validating the file. The mapping outlives the channel it came from and is released by the GC, so closing does
 * nothing.
 */
abstract class MappedSource implements ActivationSource {
    private final Path path;
    private final int dIn;
    private final MappedRows rows;

    MappedSource(Path path, int dIn, MappedRows rows) {
        this.path = path;
        this.dIn = dIn;
        this.rows = rows;
    }

    @Override
    public Path path() {
        return path;
    }

    @Override
    public int dIn() {
        return dIn;
    }

    @Override
    public long numRows() {
        return rows.rows();
    }

    @Override
    public String dtype() {
        return rows.dtype().name;
    }

    @Override
    public void readRows(long first, int count, float[] dst, int dstOffset) {
        rows.readRows(first, count, dst, dstOffset);
    }

    @Override
    public int rawElementBytes() {
        return rows.dtype().bytes;
    }

    @Override
    public void readRawRows(long first, int count, ByteBuffer dst, int dstIndex) {
        rows.readRawRows(first, count, dst, dstIndex);
    }

    @Override
    public void readRawRowsAt(long[] ids, int from, int to, ByteBuffer dst, int dstIndex) {
        rows.readRawRowsAt(ids, from, to, dst, dstIndex);
    }

    @Override
    public void close() {
    }
}
