package org.saeforge.core.kernels.cuda;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.TestInstance;
import org.saeforge.core.kernels.cpu.ReferenceKernels;

/**
 * Base of the fp32 kernel parity tests: one {@link CudaKernels} per test class, opened before the first test and
 * closed after the last; every test is skipped (not the class) where there is no GPU.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
abstract class Fp32CudaTest {
    protected CudaKernels kernels;
    protected final ReferenceKernels ref = new ReferenceKernels();

    @BeforeEach
    void open() {
        if (kernels == null) {
            kernels = CudaTestSupport.openOrSkip(GemmPrecision.FP32);
        }
    }

    @AfterAll
    void close() {
        if (kernels != null) {
            kernels.close();
        }
    }
}
