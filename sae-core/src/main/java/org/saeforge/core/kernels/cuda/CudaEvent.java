package org.saeforge.core.kernels.cuda;

import static org.saeforge.core.kernels.cuda.CudaException.check;

import jcuda.driver.CUevent;
import jcuda.driver.CUevent_flags;
import jcuda.driver.JCudaDriver;

/** A CUDA event, owned: a point in a stream's work that others wait for or time against. */
public final class CudaEvent implements AutoCloseable {
    private final CudaContext ctx;
    private final CUevent event = new CUevent();
    private boolean closed;

    /** @param timing whether the event records a time ({@link #elapsedMs}); events without are cheaper */
    public CudaEvent(CudaContext ctx, boolean timing) {
        this.ctx = ctx;
        ctx.makeCurrent();
        check(JCudaDriver.cuEventCreate(event, timing ? CUevent_flags.CU_EVENT_DEFAULT : CUevent_flags.CU_EVENT_DISABLE_TIMING),
                "cuEventCreate");
    }

    CUevent handle() {
        return event;
    }

    /** Records the event after the work enqueued so far on the legacy default stream (where kernels run). */
    public void record() {
        ctx.makeCurrent();
        check(JCudaDriver.cuEventRecord(event, null), "cuEventRecord");
    }

    /** Records the event after the work enqueued so far on {@code stream}. */
    public void record(CudaStream stream) {
        ctx.makeCurrent();
        check(JCudaDriver.cuEventRecord(event, stream.handle()), "cuEventRecord");
    }

    /** Makes later work on the legacy default stream wait until this event has completed. */
    public void makeKernelsWait() {
        ctx.makeCurrent();
        check(JCudaDriver.cuStreamWaitEvent(null, event, 0), "cuStreamWaitEvent");
    }

    /** Waits on the host until the event has completed. */
    public void synchronize() {
        ctx.makeCurrent();
        check(JCudaDriver.cuEventSynchronize(event), "cuEventSynchronize");
    }

    /** Milliseconds from {@code start} to this event (both recorded with timing); waits for this event. */
    public float elapsedMsSince(CudaEvent start) {
        synchronize();
        float[] ms = new float[1];
        check(JCudaDriver.cuEventElapsedTime(ms, start.event, event), "cuEventElapsedTime");
        return ms[0];
    }

    @Override
    public void close() {
        if (!closed) {
            closed = true;
            ctx.makeCurrent();
            check(JCudaDriver.cuEventDestroy(event), "cuEventDestroy");
        }
    }
}
