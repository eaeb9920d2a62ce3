package org.saeforge.core.kernels.cuda;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Named device buffers that grow on demand and are reused between calls (weights, batches, scratch), owned:
 * {@link #close()} frees them all. A buffer's contents survive only until the next {@link #get} of that name with a
 * larger size.
 */
public final class Workspace implements AutoCloseable {
    private final CudaContext context;
    private final Map<String, DeviceBuffer> buffers = new LinkedHashMap<>();

    public Workspace(CudaContext context) {
        this.context = context;
    }

    /** The buffer called {@code name}, at least {@code bytes} large. */
    public DeviceBuffer get(String name, long bytes) {
        DeviceBuffer b = buffers.get(name);
        if (b == null || b.bytes() < bytes) {
            if (b != null) {
                buffers.remove(name);
                b.close();
            }
            b = context.alloc(bytes);
            buffers.put(name, b);
        }
        return b;
    }

    /** Device memory held, in bytes. */
    public long allocatedBytes() {
        long sum = 0;
        for (DeviceBuffer b : buffers.values()) {
            sum += b.bytes();
        }
        return sum;
    }

    @Override
    public void close() {
        RuntimeException first = null;
        for (DeviceBuffer b : buffers.values()) {
            try {
                b.close();
            } catch (RuntimeException e) {
                if (first == null) {
                    first = e;
                }
            }
        }
        buffers.clear();
        if (first != null) {
            throw first;
        }
    }
}
