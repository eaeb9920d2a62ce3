package org.saeforge.core.data;

import java.nio.ByteBuffer;
import java.nio.file.Path;

/** A source with row metadata attached from elsewhere (a CSV sidecar). */
final class WithMetadata implements ActivationSource {
    private final ActivationSource inner;
    private final RowMetadata metadata;

    WithMetadata(ActivationSource inner, RowMetadata metadata) {
        this.inner = inner;
        this.metadata = metadata;
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
        return inner.numRows();
    }

    @Override
    public String dtype() {
        return inner.dtype();
    }

    @Override
    public void readRows(long first, int count, float[] dst, int dstOffset) {
        inner.readRows(first, count, dst, dstOffset);
    }

    @Override
    public int rawElementBytes() {
        return inner.rawElementBytes();
    }

    @Override
    public void readRawRows(long first, int count, ByteBuffer dst, int dstIndex) {
        inner.readRawRows(first, count, dst, dstIndex);
    }

    @Override
    public void readRawRowsAt(long[] ids, int from, int to, ByteBuffer dst, int dstIndex) {
        inner.readRawRowsAt(ids, from, to, dst, dstIndex);
    }

    @Override
    public RowMetadata metadata() {
        return metadata;
    }

    @Override
    public void close() {
        inner.close();
    }
}
