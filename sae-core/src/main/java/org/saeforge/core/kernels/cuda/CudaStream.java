package org.saeforge.core.kernels.cuda;

import static org.saeforge.core.kernels.cuda.CudaException.check;

import jcuda.driver.CUstream;
import jcuda.driver.CUstream_flags;
import jcuda.driver.JCudaDriver;

/**
 * A non-blocking CUDA stream, owned: work on it runs beside the kernels, which all go to the legacy default stream,
 * ordered against them only through {@link CudaEvent}s. The input pipeline copies batches on one.
 */
public final class CudaStream implements AutoCloseable {
    private final CudaContext ctx;
    private final CUstream stream = new CUstream();
    private boolean closed;

    public CudaStream(CudaContext ctx) {
        this.ctx = ctx;
        ctx.makeCurrent();
        check(JCudaDriver.cuStreamCreate(stream, CUstream_flags.CU_STREAM_NON_BLOCKING), "cuStreamCreate");
    }

    CUstream handle() {
        return stream;
    }

    /** Enqueues a copy of {@code bytes} bytes from pinned host memory to the start of {@code dst}. */
    public void copyToDevice(PinnedBuffer src, DeviceBuffer dst, long bytes) {
        dst.require(bytes, "asynchronous copy destination");
        src.require(bytes, "asynchronous copy source");
        ctx.makeCurrent();
        check(JCudaDriver.cuMemcpyHtoDAsync(dst.pointer(), src.pointer(), bytes, stream), "cuMemcpyHtoDAsync(" + bytes + " bytes)");
    }

    /** Makes later work on this stream wait until {@code event} has completed. */
    public void waitFor(CudaEvent event) {
        ctx.makeCurrent();
        check(JCudaDriver.cuStreamWaitEvent(stream, event.handle(), 0), "cuStreamWaitEvent");
    }

    public void synchronize() {
        ctx.makeCurrent();
        check(JCudaDriver.cuStreamSynchronize(stream), "cuStreamSynchronize");
    }

    @Override
    public void close() {
        if (!closed) {
            closed = true;
            ctx.makeCurrent();
            check(JCudaDriver.cuStreamDestroy(stream), "cuStreamDestroy");
        }
    }
}
