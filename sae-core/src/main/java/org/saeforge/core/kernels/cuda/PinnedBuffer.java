package org.saeforge.core.kernels.cuda;

import static org.saeforge.core.kernels.cuda.CudaException.check;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import jcuda.Pointer;
import jcuda.driver.JCudaDriver;

/**
 * Page-locked host memory ({@code cuMemHostAlloc}), owned: the GPU copies from it asynchronously, at full bus speed.
 * {@link #buffer()} is a little-endian view that any thread may fill; {@link #close()} frees it (the view must not be
 * used after that).
 */
public final class PinnedBuffer implements AutoCloseable {
    private final CudaContext ctx;
    private final Pointer ptr = new Pointer();
    private final long bytes;
    private final ByteBuffer view;
    private boolean freed;

    public PinnedBuffer(CudaContext ctx, long bytes) {
        if (bytes < 1 || bytes > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("pinned host buffers hold 1 byte to 2 GiB, asked for " + bytes);
        }
        this.ctx = ctx;
        this.bytes = bytes;
        ctx.makeCurrent();
        check(JCudaDriver.cuMemHostAlloc(ptr, bytes, 0), "cuMemHostAlloc(" + bytes + " bytes)");
        this.view = ptr.getByteBuffer(0, bytes).order(ByteOrder.LITTLE_ENDIAN);
    }

    /** The memory as a little-endian byte buffer (absolute puts from several threads on disjoint ranges are safe). */
    public ByteBuffer buffer() {
        return view;
    }

    public long bytes() {
        return bytes;
    }

    Pointer pointer() {
        return ptr;
    }

    void require(long needed, String what) {
        if (freed || needed > bytes) {
            throw new IllegalArgumentException(what + ": needs " + needed + " bytes of a pinned buffer of " + bytes + (freed ? " (freed)" : ""));
        }
    }

    @Override
    public void close() {
        if (!freed) {
            freed = true;
            ctx.makeCurrent();
            check(JCudaDriver.cuMemFreeHost(ptr), "cuMemFreeHost");
        }
    }
}
