package org.saeforge.core.kernels.cuda;

import static org.saeforge.core.kernels.cuda.CudaException.check;

import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.Map;
import jcuda.driver.CUcontext;
import jcuda.driver.CUdevice;
import jcuda.driver.CUdevice_attribute;
import jcuda.driver.CUevent;
import jcuda.driver.CUevent_flags;
import jcuda.driver.CUfunction;
import jcuda.driver.CUfunction_attribute;
import jcuda.driver.CUmodule;
import jcuda.driver.CUresult;
import jcuda.driver.JCudaDriver;
import org.saeforge.core.SaeException;

/**
 * One GPU's primary CUDA context and the kernel modules loaded into it, owned: {@link #close()} unloads the modules
 * and releases the context. Every driver call's result is checked ({@link CudaException}); every launch is counted.
 * Methods make the context current on the calling thread first, so an instance may be used from any one thread at a
 * time.
 */
public final class CudaContext implements AutoCloseable {
    /** CUresult 35 (driver older than the CUDA runtime); JCuda's CUresult has no constant for it. */
    private static final int CUDA_ERROR_INSUFFICIENT_DRIVER = 35;

    private final CUdevice device;
    private final CUcontext context;
    private final int ordinal;
    private final String deviceName;
    private final int ccMajor;
    private final int ccMinor;
    private final int smCount;
    private final int maxSmemOptIn;
    private final long totalMemory;
    private final int driverVersion;
    private final boolean syncEachLaunch;
    private final Map<String, CUmodule> modules = new HashMap<>();
    private final Map<String, KernelFunction> functions = new HashMap<>();
    private final Map<String, String> moduleVariants = new HashMap<>();
    private long launches;
    private boolean closed;

    /** A loaded kernel and the largest dynamic shared memory it has been allowed so far. */
    public static final class KernelFunction {
        private final String name;
        private final CUfunction function;
        private int smemAllowed = LaunchMath.DEFAULT_SMEM_LIMIT;

        KernelFunction(String name, CUfunction function) {
            this.name = name;
            this.function = function;
        }

        public String name() {
            return name;
        }
    }

    private CudaContext(int ordinal, boolean syncEachLaunch) {
        this.ordinal = ordinal;
        this.syncEachLaunch = syncEachLaunch;
        int[] count = new int[1];
        check(JCudaDriver.cuDeviceGetCount(count), "cuDeviceGetCount");
        if (count[0] == 0) {
            throw new CudaUnavailableException("--device cuda: no NVIDIA GPU found (the driver reports 0 devices)");
        }
        if (ordinal < 0 || ordinal >= count[0]) {
            throw new SaeException("CUDA device " + ordinal + " does not exist (" + count[0] + " device(s))");
        }
        device = new CUdevice();
        check(JCudaDriver.cuDeviceGet(device, ordinal), "cuDeviceGet(" + ordinal + ")");
        byte[] name = new byte[256];
        check(JCudaDriver.cuDeviceGetName(name, name.length, device), "cuDeviceGetName");
        int len = 0;
        while (len < name.length && name[len] != 0) {
            len++;
        }
        deviceName = new String(name, 0, len, StandardCharsets.UTF_8);
        ccMajor = attribute(CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR);
        ccMinor = attribute(CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR);
        smCount = attribute(CUdevice_attribute.CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT);
        maxSmemOptIn = attribute(CUdevice_attribute.CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN);
        long[] mem = new long[1];
        check(JCudaDriver.cuDeviceTotalMem(mem, device), "cuDeviceTotalMem");
        totalMemory = mem[0];
        int[] version = new int[1];
        check(JCudaDriver.cuDriverGetVersion(version), "cuDriverGetVersion");
        driverVersion = version[0];
        if (ccMajor < 8) {
            throw new SaeException("--device cuda: " + deviceName + " has compute capability " + ccMajor + "." + ccMinor
                    + "; the SAEForge kernels need 8.0 or newer (Ampere, Hopper)");
        }
        context = new CUcontext();
        check(JCudaDriver.cuDevicePrimaryCtxRetain(context, device), "cuDevicePrimaryCtxRetain");
        check(JCudaDriver.cuCtxSetCurrent(context), "cuCtxSetCurrent");
    }

    /**
     * Opens GPU {@code ordinal}. Without a driver, a GPU or JCuda this throws {@link CudaUnavailableException} with a
     * one-line message.
     *
     * @param syncEachLaunch synchronise after every launch, so that an asynchronous fault is reported with the kernel
     *                       that caused it (tests); costs throughput
     */
    public static CudaContext open(int ordinal, boolean syncEachLaunch) {
        int init;
        try {
            init = JCudaDriver.cuInit(0);
        } catch (UnsatisfiedLinkError | NoClassDefFoundError e) {
            throw CudaUnavailableException.fromLoadFailure(e);
        }
        if (init == CUresult.CUDA_ERROR_NO_DEVICE) {
            throw new CudaUnavailableException("--device cuda: no NVIDIA GPU found (cuInit: CUDA_ERROR_NO_DEVICE)");
        }
        if (init == CUDA_ERROR_INSUFFICIENT_DRIVER || init == CUresult.CUDA_ERROR_STUB_LIBRARY
                || init == CUresult.CUDA_ERROR_SYSTEM_DRIVER_MISMATCH) {
            throw new CudaUnavailableException("--device cuda: no usable NVIDIA driver (cuInit: " + CUresult.stringFor(init) + " ("
                    + init + "))");
        }
        check(init, "cuInit");
        return new CudaContext(ordinal, syncEachLaunch);
    }

    private int attribute(int attribute) {
        int[] v = new int[1];
        check(JCudaDriver.cuDeviceGetAttribute(v, attribute, device), "cuDeviceGetAttribute(" + attribute + ")");
        return v[0];
    }

    /** Makes this context current on the calling thread. */
    void makeCurrent() {
        if (closed) {
            throw new IllegalStateException("CUDA context used after close()");
        }
        check(JCudaDriver.cuCtxSetCurrent(context), "cuCtxSetCurrent");
    }

    /** Allocates {@code bytes} of device memory (owned by the caller). */
    public DeviceBuffer alloc(long bytes) {
        return new DeviceBuffer(this, bytes);
    }

    /** Kernel {@code name} of family {@code family} (its fatbin is loaded on first use). */
    public KernelFunction function(String family, String name) {
        makeCurrent();
        String key = family + "/" + name;
        KernelFunction f = functions.get(key);
        if (f == null) {
            CUmodule module = modules.get(family);
            if (module == null) {
                module = new CUmodule();
                String variant = CudaBinaries.module(family, ccMajor, ccMinor);
                int r = JCudaDriver.cuModuleLoadData(module, CudaBinaries.fatbin(variant));
                if (r != CUresult.CUDA_SUCCESS && !variant.equals(family)) {
                    // the sm_90a build did not load (a driver without it): the portable build serves the same kernels
                    variant = family;
                    r = JCudaDriver.cuModuleLoadData(module, CudaBinaries.fatbin(family));
                }
                if (r == CUresult.CUDA_ERROR_NO_BINARY_FOR_GPU || r == CUresult.CUDA_ERROR_UNSUPPORTED_PTX_VERSION) {
                    throw SaeException.internal("CUDA kernels of " + family + ".fatbin cannot run on " + deviceName + " (compute "
                            + ccMajor + "." + ccMinor + ", driver " + driverVersion + "): " + CUresult.stringFor(r)
                            + "; they hold sm_80 and sm_90 code and compute_90 PTX", null);
                }
                check(r, "cuModuleLoadData(" + variant + ".fatbin)");
                modules.put(family, module);
                moduleVariants.put(family, variant);
            }
            CUfunction fn = new CUfunction();
            check(JCudaDriver.cuModuleGetFunction(fn, module, name), "cuModuleGetFunction(" + key + ")");
            f = new KernelFunction(key, fn);
            functions.put(key, f);
        }
        return f;
    }

    /**
     * Launches {@code f} on grid (gx, gy) with {@code block} threads and {@code smem} bytes of dynamic shared memory.
     * Raises the function's shared-memory limit when needed; refuses what the device cannot give, naming the kernel.
     */
    public void launch(KernelFunction f, int gx, int gy, int block, int smem, KernelArgs args) {
        if (gx < 1 || gy < 1 || gy > LaunchMath.MAX_GRID_Y || block < 1 || block > 1024 || smem < 0) {
            throw new IllegalArgumentException(f.name + ": bad launch grid (" + gx + ", " + gy + ") x " + block
                    + " threads, " + smem + " bytes of shared memory");
        }
        allowSharedMemory(f, smem);
        makeCurrent();
        check(JCudaDriver.cuLaunchKernel(f.function, gx, gy, 1, block, 1, 1, smem, null, args.pointer(), null),
                "cuLaunchKernel(" + f.name + ", grid " + gx + "x" + gy + ", block " + block + ", smem " + smem + ")");
        launches++;
        if (syncEachLaunch) {
            check(JCudaDriver.cuCtxSynchronize(), "kernel " + f.name + " (grid " + gx + "x" + gy + ", block " + block + ")");
        }
    }

    private void allowSharedMemory(KernelFunction f, int smem) {
        if (smem <= f.smemAllowed) {
            return;
        }
        if (smem > maxSmemOptIn) {
            throw new IllegalArgumentException(f.name + " needs " + smem + " bytes of shared memory per block; "
                    + deviceName + " allows " + maxSmemOptIn);
        }
        makeCurrent();
        check(JCudaDriver.cuFuncSetAttribute(f.function, CUfunction_attribute.CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
                smem), "cuFuncSetAttribute(" + f.name + ", max dynamic shared memory " + smem + ")");
        f.smemAllowed = smem;
    }

    /** Blocks of {@code f} that fit on one multiprocessor with this block size and dynamic shared memory. */
    public int blocksPerMultiprocessor(KernelFunction f, int block, int smem) {
        allowSharedMemory(f, smem);
        int[] n = new int[1];
        check(JCudaDriver.cuOccupancyMaxActiveBlocksPerMultiprocessor(n, f.function, block, smem),
                "cuOccupancyMaxActiveBlocksPerMultiprocessor(" + f.name + ")");
        if (n[0] < 1) {
            throw new IllegalArgumentException(f.name + " cannot run with " + block + " threads and " + smem
                    + " bytes of shared memory on " + deviceName);
        }
        return n[0];
    }

    /** Registers per thread the compiler gave {@code f} (for reports). */
    public int registers(KernelFunction f) {
        int[] n = new int[1];
        check(JCudaDriver.cuFuncGetAttribute(n, CUfunction_attribute.CU_FUNC_ATTRIBUTE_NUM_REGS, f.function),
                "cuFuncGetAttribute(" + f.name + ")");
        return n[0];
    }

    /** Waits for all work; reports any asynchronous fault. */
    public void synchronize() {
        makeCurrent();
        check(JCudaDriver.cuCtxSynchronize(), "cuCtxSynchronize");
    }

    /**
     * Runs {@code work} between two CUDA events on the default stream and returns the device time in milliseconds
     * (waits for completion).
     */
    public float time(Runnable work) {
        makeCurrent();
        CUevent start = new CUevent();
        CUevent stop = new CUevent();
        check(JCudaDriver.cuEventCreate(start, CUevent_flags.CU_EVENT_DEFAULT), "cuEventCreate");
        try {
            check(JCudaDriver.cuEventCreate(stop, CUevent_flags.CU_EVENT_DEFAULT), "cuEventCreate");
            try {
                check(JCudaDriver.cuEventRecord(start, null), "cuEventRecord");
                work.run();
                makeCurrent();
                check(JCudaDriver.cuEventRecord(stop, null), "cuEventRecord");
                check(JCudaDriver.cuEventSynchronize(stop), "cuEventSynchronize");
                float[] ms = new float[1];
                check(JCudaDriver.cuEventElapsedTime(ms, start, stop), "cuEventElapsedTime");
                return ms[0];
            } finally {
                check(JCudaDriver.cuEventDestroy(stop), "cuEventDestroy");
            }
        } finally {
            check(JCudaDriver.cuEventDestroy(start), "cuEventDestroy");
        }
    }

    /** {@code {free, total}} bytes of device memory now ({@code cuMemGetInfo}). */
    public long[] memoryInfo() {
        makeCurrent();
        long[] free = new long[1];
        long[] total = new long[1];
        check(JCudaDriver.cuMemGetInfo(free, total), "cuMemGetInfo");
        return new long[] {free[0], total[0]};
    }

    /** Kernel launches so far: proof that work ran on the GPU. */
    public long launches() {
        return launches;
    }

    public int ordinal() {
        return ordinal;
    }

    public String deviceName() {
        return deviceName;
    }

    /**
     * Which build of the encoder runs: "wgmma (sm_90a)" or "mma.sync" (loads the encoder module if not loaded yet).
     */
    public String encoderKernels() {
        function("encode", "gemm_store_bf16");
        return CudaBinaries.ENCODE_SM90A.equals(moduleVariants.get("encode")) ? "wgmma (sm_90a)" : "mma.sync";
    }

    /** Compute capability as "major.minor". */
    public String computeCapability() {
        return ccMajor + "." + ccMinor;
    }

    public int multiprocessors() {
        return smCount;
    }

    public int maxSharedMemoryPerBlock() {
        return maxSmemOptIn;
    }

    public long totalMemory() {
        return totalMemory;
    }

    /** CUDA driver version, e.g. 13000 for 13.0. */
    public int driverVersion() {
        return driverVersion;
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        check(JCudaDriver.cuCtxSetCurrent(context), "cuCtxSetCurrent");
        closed = true;
        try {
            for (CUmodule m : modules.values()) {
                check(JCudaDriver.cuModuleUnload(m), "cuModuleUnload");
            }
        } finally {
            modules.clear();
            functions.clear();
            check(JCudaDriver.cuDevicePrimaryCtxRelease(device), "cuDevicePrimaryCtxRelease");
        }
    }

    @Override
    public String toString() {
        return "CudaContext[" + deviceName + ", compute " + computeCapability() + ", " + smCount + " SMs]";
    }
}
