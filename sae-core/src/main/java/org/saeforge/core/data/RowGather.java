package org.saeforge.core.data;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;

/**
 * Copies rows of a source chosen by id into a byte buffer, as stored when the source can read them so (float16 and
 * bfloat16 stay 2 bytes, to be widened by whoever reads the buffer: the GPU), else widened to float32. What the GPU
 * input pipeline's reader threads do with the ids of a {@link BatchStream#rowIdsOnly} stream. Safe to use from several
 * threads at once on disjoint parts of a buffer.
 */
public final class RowGather {
    /** Element types of gathered rows, with the codes the conversion kernel takes. */
    public enum Stored {
        FLOAT32(4, 0), FLOAT16(2, 1), BFLOAT16(2, 2);

        private final int bytes;
        private final int code;

        Stored(int bytes, int code) {
            this.bytes = bytes;
            this.code = code;
        }

        public int bytes() {
            return bytes;
        }

        /** The dtype code of {@code convert_rows} (0 float32, 1 float16, 2 bfloat16). */
        public int code() {
            return code;
        }
    }

    private final ActivationSource source;
    private final int dIn;
    private final Stored stored;
    private final boolean raw;

    public RowGather(ActivationSource source) {
        this.source = source;
        this.dIn = source.dIn();
        int bytes = source.rawElementBytes();
        Stored s = Stored.FLOAT32;
        if (bytes == 2 && source.dtype().equals("float16")) {
            s = Stored.FLOAT16;
        } else if (bytes == 2 && source.dtype().equals("bfloat16")) {
            s = Stored.BFLOAT16;
        }
        this.raw = bytes == s.bytes() && bytes > 0;
        this.stored = raw ? s : Stored.FLOAT32;
    }

    /** The element type rows are gathered in. */
    public Stored stored() {
        return stored;
    }

    /** True when rows are copied as stored; false when they are widened to float32 on the host. */
    public boolean asStored() {
        return raw;
    }

    /** Bytes of one gathered row. */
    public int rowBytes() {
        return dIn * stored.bytes();
    }

    /** Copies the rows {@code ids[from .. to)} one after another into {@code dst} starting at byte {@code dstIndex}. */
    public void gather(long[] ids, int from, int to, ByteBuffer dst, int dstIndex) {
        int rowBytes = rowBytes();
        if (dstIndex < 0 || dstIndex + (long) (to - from) * rowBytes > dst.limit()) {
            throw new IndexOutOfBoundsException((to - from) + " rows of " + rowBytes + " bytes at " + dstIndex + " overflow a buffer of "
                    + dst.limit());
        }
        if (raw) {
            source.readRawRowsAt(ids, from, to, dst, dstIndex);
            return;
        }
        float[] row = new float[dIn];
        FloatBuffer out = dst.duplicate().order(ByteOrder.LITTLE_ENDIAN).position(dstIndex).slice().order(ByteOrder.LITTLE_ENDIAN)
                .asFloatBuffer();
        for (int i = from; i < to; i++) {
            source.readRows(ids[i], 1, row, 0);
            out.put((i - from) * dIn, row);
        }
    }
}
