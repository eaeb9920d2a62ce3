package org.saeforge.core.kernels.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import org.saeforge.core.SaeException;
import org.saeforge.core.kernels.Device;
import org.saeforge.core.kernels.Kernels;
import org.saeforge.core.kernels.KernelsFactory;

/** {@code --device cuda|auto} with and without a usable GPU: a one-line error (exit 2), or the CUDA backend. */
class CudaUnavailableTest {
    static final String NO_DRIVER = CudaUnavailableException.NO_DRIVER;

    @Test
    void theDriverMessageIsTheDocumentedOne() {
        assertEquals("--device cuda: no usable NVIDIA driver (libcuda.so.1 not found)", NO_DRIVER);
    }

    @Test
    void loadFailuresBecomeOneLineErrors() {
        // The texts JCuda 12.6 produces on a machine without the driver (first and later attempts).
        UnsatisfiedLinkError first = new UnsatisfiedLinkError("Error while loading native library \"JCudaDriver-12.6.0-linux-x86_64\"\n"
                + "Stack trace from the attempt to load the library as a resource:\njava.lang.UnsatisfiedLinkError: "
                + "/tmp/libJCudaDriver-12.6.0-linux-x86_64.so: libcuda.so.1: cannot open shared object file");
        assertEquals(NO_DRIVER, CudaUnavailableException.fromLoadFailure(first).getMessage());
        NoClassDefFoundError later = new NoClassDefFoundError("Could not initialize class jcuda.driver.JCudaDriver");
        later.initCause(new ExceptionInInitializerError("Exception java.lang.UnsatisfiedLinkError: ... libcuda.so.1: "
                + "cannot open shared object file"));
        assertEquals(NO_DRIVER, CudaUnavailableException.fromLoadFailure(later).getMessage());
        // Under deep stacks the JVM cuts the saved first error before the libcuda line: look for the library instead.
        NoClassDefFoundError cut = new NoClassDefFoundError("Could not initialize class jcuda.driver.JCudaDriver");
        cut.initCause(new ExceptionInInitializerError("Exception java.lang.UnsatisfiedLinkError: Error while loading "
                + "native library \"JCudaDriver-12.6.0-linux-x86_64\"\nStack trace from the attempt to load the library as a file"));
        assertEquals(NO_DRIVER, CudaUnavailableException.fromLoadFailure(cut, false).getMessage());
        assertEquals("--device cuda: cannot load the JCuda driver bindings (an earlier attempt in this process failed)",
                CudaUnavailableException.fromLoadFailure(cut, true).getMessage());
        assertEquals("--device cuda: JCuda (org.jcuda:jcuda) is not on the class path",
                CudaUnavailableException.fromLoadFailure(new NoClassDefFoundError("jcuda/driver/JCudaDriver")).getMessage());
        String other = CudaUnavailableException.fromLoadFailure(new UnsatisfiedLinkError("no JCudaDriver in path\nmore")).getMessage();
        assertEquals("--device cuda: cannot load the JCuda driver bindings (no JCudaDriver in path)", other);
        assertEquals(SaeException.BAD_INPUT, CudaUnavailableException.fromLoadFailure(first).exitCode());
    }

    @Test
    void cudaDeviceIsTheBackendOrAOneLineExit2() {
        Kernels k;
        try {
            k = KernelsFactory.create(Device.CUDA, 1);
        } catch (CudaUnavailableException e) {
            assertFalse(e.getMessage().contains("\n"), "one line: " + e.getMessage());
            assertTrue(e.getMessage().startsWith("--device cuda: "), e.getMessage());
            assertEquals(SaeException.BAD_INPUT, e.exitCode());
            if (e.getMessage().contains("libcuda")) {
                assertEquals(NO_DRIVER, e.getMessage());
            }
            assertFalse(Boolean.getBoolean(CudaTestSupport.REQUIRE_PROPERTY), "CUDA required but unavailable: " + e.getMessage());
            try (Kernels auto = KernelsFactory.create(Device.AUTO, 1)) {
                assertEquals("cpu", auto.name(), "auto falls back to the CPU");
            }
            // Asking again gives the same answer (JCuda's second failure is a NoClassDefFoundError).
            CudaUnavailableException again = assertThrows(CudaUnavailableException.class, () -> KernelsFactory.create(Device.CUDA, 1));
            assertEquals(e.getMessage(), again.getMessage());
            return;
        }
        try (Kernels cuda = k; Kernels auto = KernelsFactory.create(Device.AUTO, 1)) {
            assertEquals("cuda", cuda.name());
            assertEquals("cuda", auto.name(), "auto picks the GPU when it initialises");
        }
    }
}
