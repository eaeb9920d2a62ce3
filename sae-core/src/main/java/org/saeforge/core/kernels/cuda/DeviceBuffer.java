package org.saeforge.core.kernels.cuda;

import static org.saeforge.core.kernels.cuda.CudaException.check;

import jcuda.Pointer;
import jcuda.driver.CUDA_MEMCPY2D;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.CUmemorytype;
import jcuda.driver.JCudaDriver;

/**
 * One device allocation, owned: {@link #close()} frees it; or a {@link #view} of part of one, which owns nothing.
 * Copies are synchronous and checked; offsets and counts are checked against the buffer before any copy, with the
 * sizes in the message.
 */
public final class DeviceBuffer implements AutoCloseable {
    /** The bit pattern written by {@link #poison}: a quiet NaN as float, -4194304 as int. */
    public static final int POISON = 0x7fc00000;

    private final CudaContext context;
    private final CUdeviceptr ptr;
    private final long bytes;
    /** The owning buffer of a view, else null. */
    private final DeviceBuffer parent;
    private boolean freed;

    DeviceBuffer(CudaContext context, long bytes) {
        if (bytes < 0) {
            throw new IllegalArgumentException("negative allocation of " + bytes + " bytes");
        }
        this.context = context;
        this.bytes = bytes;
        this.parent = null;
        this.ptr = new CUdeviceptr();
        context.makeCurrent();
        // cuMemAlloc rejects 0 bytes; keep a minimal allocation so that every buffer has a valid address.
        check(JCudaDriver.cuMemAlloc(ptr, Math.max(bytes, 256)), "cuMemAlloc(" + bytes + " bytes)");
    }

    private DeviceBuffer(DeviceBuffer parent, CUdeviceptr ptr, long bytes) {
        this.context = parent.context;
        this.ptr = ptr;
        this.bytes = bytes;
        this.parent = parent;
    }

    /** The bytes [byteOffset, byteOffset + length) of this buffer, as a buffer that owns nothing. */
    public DeviceBuffer view(long byteOffset, long length) {
        requireRange(byteOffset, length, "view");
        return new DeviceBuffer(parent == null ? this : parent, ptr.withByteOffset(byteOffset), length);
    }

    /** Capacity in bytes. */
    public long bytes() {
        return bytes;
    }

    /** The device address, for kernel arguments. */
    public CUdeviceptr pointer() {
        requireLive();
        return ptr;
    }

    /** The device address {@code byteOffset} bytes in. */
    public CUdeviceptr pointer(long byteOffset) {
        requireRange(byteOffset, 0, "pointer");
        return ptr.withByteOffset(byteOffset);
    }

    public void upload(float[] src, int srcOffset, int count, long dstByteOffset) {
        upload(Pointer.to(src), src.length, srcOffset, count, 4, dstByteOffset, "floats");
    }

    public void upload(int[] src, int srcOffset, int count, long dstByteOffset) {
        upload(Pointer.to(src), src.length, srcOffset, count, 4, dstByteOffset, "ints");
    }

    public void upload(double[] src, int srcOffset, int count, long dstByteOffset) {
        upload(Pointer.to(src), src.length, srcOffset, count, 8, dstByteOffset, "doubles");
    }

    public void upload(long[] src, int srcOffset, int count, long dstByteOffset) {
        upload(Pointer.to(src), src.length, srcOffset, count, 8, dstByteOffset, "longs");
    }

    /** Host array {@code host} (length elements of elemBytes) from element srcOffset, count elements, to this buffer. */
    private void upload(Pointer host, int length, int srcOffset, int count, int elemBytes, long dstByteOffset, String what) {
        requireArray(length, srcOffset, count, "upload");
        requireRange(dstByteOffset, (long) elemBytes * count, "upload");
        if (count == 0) {
            return;
        }
        context.makeCurrent();
        check(JCudaDriver.cuMemcpyHtoD(ptr.withByteOffset(dstByteOffset), host.withByteOffset((long) elemBytes * srcOffset),
                (long) elemBytes * count), "cuMemcpyHtoD(" + count + " " + what + ")");
    }

    /** count elements of elemBytes from this buffer at srcByteOffset to host array {@code host} from element dstOffset. */
    private void download(long srcByteOffset, Pointer host, int length, int dstOffset, int count, int elemBytes, String what) {
        requireArray(length, dstOffset, count, "download");
        requireRange(srcByteOffset, (long) elemBytes * count, "download");
        if (count == 0) {
            return;
        }
        context.makeCurrent();
        check(JCudaDriver.cuMemcpyDtoH(host.withByteOffset((long) elemBytes * dstOffset), ptr.withByteOffset(srcByteOffset),
                (long) elemBytes * count), "cuMemcpyDtoH(" + count + " " + what + ")");
    }

    /** Copies {@code bytes} bytes of {@code src} (from its start) to the start of this buffer, on the device. */
    public void copyFrom(DeviceBuffer src, long bytes) {
        requireRange(0, bytes, "copyFrom destination");
        src.requireRange(0, bytes, "copyFrom source");
        if (bytes == 0) {
            return;
        }
        context.makeCurrent();
        check(JCudaDriver.cuMemcpyDtoD(ptr, src.ptr, bytes), "cuMemcpyDtoD(" + bytes + " bytes)");
    }

    public void download(long srcByteOffset, float[] dst, int dstOffset, int count) {
        download(srcByteOffset, Pointer.to(dst), dst.length, dstOffset, count, 4, "floats");
    }

    public void download(long srcByteOffset, int[] dst, int dstOffset, int count) {
        download(srcByteOffset, Pointer.to(dst), dst.length, dstOffset, count, 4, "ints");
    }

    public void download(long srcByteOffset, double[] dst, int dstOffset, int count) {
        download(srcByteOffset, Pointer.to(dst), dst.length, dstOffset, count, 8, "doubles");
    }

    public void download(long srcByteOffset, long[] dst, int dstOffset, int count) {
        download(srcByteOffset, Pointer.to(dst), dst.length, dstOffset, count, 8, "longs");
    }

    /**
     * Uploads {@code rows} rows of {@code cols} floats (host row stride cols, starting at host row {@code firstRow})
     * into device rows of {@code ld} floats, zeroing the padding columns first.
     */
    public void uploadRows(float[] src, int firstRow, int rows, int cols, int ld) {
        requirePitched(rows, cols, ld, "uploadRows");
        requireArray(src.length, (long) firstRow * cols, (long) rows * cols, "uploadRows");
        if (rows == 0) {
            return;
        }
        if (ld != cols) {
            fill32(0, (long) rows * ld);
        }
        CUDA_MEMCPY2D c = new CUDA_MEMCPY2D();
        c.srcMemoryType = CUmemorytype.CU_MEMORYTYPE_HOST;
        c.srcHost = Pointer.to(src).withByteOffset(4L * firstRow * cols);
        c.srcPitch = 4L * cols;
        c.dstMemoryType = CUmemorytype.CU_MEMORYTYPE_DEVICE;
        c.dstDevice = ptr;
        c.dstPitch = 4L * ld;
        c.WidthInBytes = 4L * cols;
        c.Height = rows;
        context.makeCurrent();
        check(JCudaDriver.cuMemcpy2D(c), "cuMemcpy2D(upload " + rows + " x " + cols + " into ld " + ld + ")");
    }

    /** Downloads {@code rows} device rows of ld floats into host rows of cols floats starting at host row firstRow. */
    public void downloadRows(float[] dst, int firstRow, int rows, int cols, int ld) {
        requirePitched(rows, cols, ld, "downloadRows");
        requireArray(dst.length, (long) firstRow * cols, (long) rows * cols, "downloadRows");
        if (rows == 0) {
            return;
        }
        CUDA_MEMCPY2D c = new CUDA_MEMCPY2D();
        c.srcMemoryType = CUmemorytype.CU_MEMORYTYPE_DEVICE;
        c.srcDevice = ptr;
        c.srcPitch = 4L * ld;
        c.dstMemoryType = CUmemorytype.CU_MEMORYTYPE_HOST;
        c.dstHost = Pointer.to(dst).withByteOffset(4L * firstRow * cols);
        c.dstPitch = 4L * cols;
        c.WidthInBytes = 4L * cols;
        c.Height = rows;
        context.makeCurrent();
        check(JCudaDriver.cuMemcpy2D(c), "cuMemcpy2D(download " + rows + " x " + cols + " from ld " + ld + ")");
    }

    /** Writes the 32-bit pattern into the first {@code count} words. */
    public void fill32(int pattern, long count) {
        requireRange(0, 4L * count, "fill32");
        if (count == 0) {
            return;
        }
        context.makeCurrent();
        check(JCudaDriver.cuMemsetD32(ptr, pattern, count), "cuMemsetD32(" + count + " words)");
    }

    /** Fills the first {@code count} 32-bit words with {@link #POISON}, so that unwritten outputs show. */
    public void poison(long count) {
        fill32(POISON, count);
    }

    public void zero(long bytesToZero) {
        requireRange(0, bytesToZero, "zero");
        if (bytesToZero == 0) {
            return;
        }
        context.makeCurrent();
        check(JCudaDriver.cuMemsetD8(ptr, (byte) 0, bytesToZero), "cuMemsetD8(" + bytesToZero + " bytes)");
    }

    /** Throws naming {@code what} unless this buffer holds at least {@code needed} bytes. */
    public DeviceBuffer require(long needed, String what) {
        requireLive();
        if (needed > bytes) {
            throw new IllegalArgumentException(what + ": needs " + needed + " bytes, device buffer holds " + bytes);
        }
        return this;
    }

    /** Frees the allocation; a no-op on a view. */
    @Override
    public void close() {
        if (parent == null && !freed) {
            freed = true;
            context.makeCurrent();
            check(JCudaDriver.cuMemFree(ptr), "cuMemFree");
        }
    }

    @Override
    public String toString() {
        return "DeviceBuffer[" + bytes + " bytes" + (freed ? ", freed" : "") + "]";
    }

    private void requireLive() {
        if (freed || (parent != null && parent.freed)) {
            throw new IllegalStateException("device buffer used after close()");
        }
    }

    private void requireRange(long offset, long length, String what) {
        requireLive();
        if (offset < 0 || length < 0 || offset + length > bytes) {
            throw new IllegalArgumentException(what + ": bytes [" + offset + ", " + (offset + length)
                    + ") outside a device buffer of " + bytes);
        }
    }

    private static void requireArray(int length, long offset, long count, String what) {
        if (offset < 0 || count < 0 || offset + count > length) {
            throw new IllegalArgumentException(what + ": elements [" + offset + ", " + (offset + count)
                    + ") outside a host array of " + length);
        }
    }

    private void requirePitched(int rows, int cols, int ld, String what) {
        if (rows < 0 || cols < 1 || ld < cols) {
            throw new IllegalArgumentException(what + ": bad shape [" + rows + " x " + cols + "] with ld " + ld);
        }
        requireRange(0, 4L * rows * ld, what);
    }
}
