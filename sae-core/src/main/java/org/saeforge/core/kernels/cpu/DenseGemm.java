package org.saeforge.core.kernels.cpu;

/**
 * Dense {@code C = A · B^T} for the encoder: A is a row block of inputs {@code [m, k]}, B the latent-major encoder
 * {@code [n, k]}. The product may live off-heap (OpenBLAS), so rows are read back through {@link Product}.
 */
public interface DenseGemm extends AutoCloseable {

    /** The rows of a product, valid until the next multiply on the same {@link DenseGemm}. */
    interface Product {
        /** Copies row r (n floats) into dst starting at dstOff; safe to call from several threads at once. */
        void copyRow(int r, float[] dst, int dstOff);
    }

    /** Which implementation this is, e.g. {@code openblas(SkylakeX)} or {@code java-vector(256)}. */
    String name();

    /**
     * Makes B (the first n*k floats of b, row-major [n, k]) the right-hand side of the following multiplies.
     * Implementations may copy it; callers re-prepare after changing b.
     */
    void prepareB(float[] b, int n, int k);

    /** {@code A[m, k] · B^T} for the prepared B; A is the first m*k floats of a, row-major. */
    Product multiply(float[] a, int m);

    @Override
    void close();

    /**
     * The fastest available implementation: OpenBLAS through JavaCPP when its classes and natives load
     * (unless the system property {@code sae.blas=java}), else the pure-Java Vector API GEMM.
     */
    static DenseGemm create(WorkerPool pool) {
        if (!"java".equals(System.getProperty("sae.blas"))) {
            try {
                return OpenBlasLoader.create(pool);
            } catch (LinkageError | RuntimeException e) {
                // optional dependency absent or native library unusable on this machine: use the Java path
            }
        }
        return new VectorGemm(pool);
    }
}
