package org.saeforge.core.kernels.device;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import org.saeforge.core.data.ActivationSource;
import org.saeforge.core.data.BatchStream;
import org.saeforge.core.data.HeldOutSplit;
import org.saeforge.core.data.RowGather;
import org.saeforge.core.tensor.Half;

/**
 * {@link BatchFeed} for the {@link HostTrainDevice}: the steps of the CUDA input pipeline on the host, one batch at a
 * time: ids from an ids-only stream, rows gathered as stored, widened and scaled as the conversion kernel does.
 */
public final class HostBatchFeed implements BatchFeed {
    private final TrainDevice dev;
    private final BatchStream stream;
    private final RowGather gather;
    private final int rows;
    private final int dIn;
    private final int ld;
    private final float scale;
    private final long[] ids;
    private final ByteBuffer staging;
    private final float[] widened;
    private final DeviceArray x;
    private final DeviceArray tv;

    /** Skips {@code skipBatches} batches first (resume). */
    public HostBatchFeed(TrainDevice dev, ActivationSource source, HeldOutSplit split, long seed, BatchStream.Options options, int rows,
                         long skipBatches) {
        this.dev = dev;
        this.stream = BatchStream.rowIdsOnly(source, split, seed, options);
        this.gather = new RowGather(source);
        this.rows = rows;
        this.dIn = source.dIn();
        this.ld = dev.ld(dIn);
        this.scale = options.scale();
        this.ids = new long[rows];
        this.staging = ByteBuffer.allocate(rows * gather.rowBytes()).order(ByteOrder.LITTLE_ENDIAN);
        this.widened = new float[rows * dIn];
        this.x = dev.floats((long) rows * ld, "batch");
        this.tv = dev.doubles(1, "total variance");
        for (long s = 0; s < skipBatches; s++) {
            stream.nextRowIds(ids, 0, rows);
        }
    }

    @Override
    public void next() {
        stream.nextRowIds(ids, 0, rows);
        gather.gather(ids, 0, rows, staging, 0);
        for (int i = 0; i < rows * dIn; i++) {
            float v;
            switch (gather.stored()) {
                case FLOAT16:
                    v = Half.toFloat(staging.getShort(2 * i));
                    break;
                case BFLOAT16:
                    v = Half.bf16ToFloat(staging.getShort(2 * i));
                    break;
                default:
                    v = staging.getFloat(4 * i);
            }
            widened[i] = scale == 1f ? v : v * scale;
        }
        dev.uploadRows(widened, rows, dIn, ld, x);
        dev.totalVariance(x, rows, ld, tv);
    }

    @Override
    public DeviceArray batch() {
        return x;
    }

    @Override
    public DeviceArray totalVariance() {
        return tv;
    }

    @Override
    public long[] rowIds() {
        return ids;
    }

    @Override
    public long badRows() {
        return stream.badRows();
    }

    @Override
    public long normDropped() {
        return stream.normDropped();
    }

    @Override
    public double waitSeconds() {
        return 0;
    }

    @Override
    public void close() {
        stream.close();
    }
}
