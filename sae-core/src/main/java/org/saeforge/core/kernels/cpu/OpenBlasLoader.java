package org.saeforge.core.kernels.cpu;

/**
 * Indirection so that {@link OpenBlasGemm} (and with it the optional JavaCPP classes) is only linked when
 * someone asks for it; a missing jar or native library surfaces as a {@link LinkageError} here.
 */
final class OpenBlasLoader {
    private OpenBlasLoader() {
    }

    static DenseGemm create(WorkerPool pool) {
        return new OpenBlasGemm(pool);
    }
}
