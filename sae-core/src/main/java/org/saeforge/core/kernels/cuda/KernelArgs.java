package org.saeforge.core.kernels.cuda;

import java.util.ArrayList;
import java.util.List;
import jcuda.NativePointerObject;
import jcuda.Pointer;
import jcuda.driver.CUdeviceptr;

/**
 * The parameter list of one kernel launch, in the kernel's order and with its C types: {@code ptr} for pointers
 * (null allowed), {@code i} for int, {@code l} for long, {@code f} for float, {@code d} for double.
 */
public final class KernelArgs {
    private final List<NativePointerObject> params = new ArrayList<>();

    public static KernelArgs of() {
        return new KernelArgs();
    }

    /** A device pointer; null passes a null pointer. */
    public KernelArgs ptr(DeviceBuffer b) {
        params.add(Pointer.to(b == null ? new CUdeviceptr() : b.pointer()));
        return this;
    }

    /** A device pointer at a byte offset into b. */
    public KernelArgs ptr(DeviceBuffer b, long byteOffset) {
        params.add(Pointer.to(b.pointer(byteOffset)));
        return this;
    }

    public KernelArgs i(int v) {
        params.add(Pointer.to(new int[] {v}));
        return this;
    }

    public KernelArgs l(long v) {
        params.add(Pointer.to(new long[] {v}));
        return this;
    }

    public KernelArgs f(float v) {
        params.add(Pointer.to(new float[] {v}));
        return this;
    }

    public KernelArgs d(double v) {
        params.add(Pointer.to(new double[] {v}));
        return this;
    }

    int size() {
        return params.size();
    }

    Pointer pointer() {
        return Pointer.to(params.toArray(new NativePointerObject[0]));
    }
}
