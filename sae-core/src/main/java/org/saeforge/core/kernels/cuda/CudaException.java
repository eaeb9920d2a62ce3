package org.saeforge.core.kernels.cuda;

import jcuda.driver.CUresult;
import org.saeforge.core.SaeException;

/** A CUDA driver call failed on a machine where CUDA is otherwise usable: an environment or SAEForge error (exit 1). */
public final class CudaException extends SaeException {
    private static final long serialVersionUID = 1L;

    private final int result;

    CudaException(int result, String what) {
        super("CUDA error " + CUresult.stringFor(result) + " (" + result + ") in " + what, INTERNAL, null);
        this.result = result;
    }

    /** The {@code CUresult} code. */
    public int result() {
        return result;
    }

    /** Throws a {@link CudaException} naming {@code what} unless {@code result} is {@code CUDA_SUCCESS}. */
    static void check(int result, String what) {
        if (result != CUresult.CUDA_SUCCESS) {
            throw new CudaException(result, what);
        }
    }
}
