package org.saeforge.core.kernels.cpu;

import static org.bytedeco.openblas.global.openblas_full.CblasNoTrans;
import static org.bytedeco.openblas.global.openblas_full.CblasRowMajor;
import static org.bytedeco.openblas.global.openblas_full.CblasTrans;
import static org.bytedeco.openblas.global.openblas_full.cblas_sgemm;
import static org.bytedeco.openblas.global.openblas_full.openblas_get_corename;
import static org.bytedeco.openblas.global.openblas_full.openblas_set_num_threads;

import java.nio.FloatBuffer;
import org.bytedeco.javacpp.FloatPointer;

/**
 * sgemm through OpenBLAS ({@code org.bytedeco:openblas}). Operands live in off-heap buffers owned by this object
 * and grown on demand: passing Java arrays to JavaCPP copies them on every call (measured: 225 vs 360 GFLOP/s for
 * [4096x768]·[768x16384] on 2 threads), so A and B are copied in once and product rows are copied out per row.
 */
final class OpenBlasGemm implements DenseGemm {
    private final WorkerPool pool;
    private final int threads;
    private final String name;
    private FloatPointer a = new FloatPointer(0L);
    private FloatPointer b = new FloatPointer(0L);
    private FloatPointer c = new FloatPointer(0L);
    private FloatBuffer cView;
    private int n;
    private int k;

    OpenBlasGemm(WorkerPool pool) {
        this.pool = pool;
        this.threads = pool.threads();
        openblas_set_num_threads(threads);
        this.name = "openblas(" + openblas_get_corename().getString().trim() + ")";
    }

    @Override
    public String name() {
        return name;
    }

    private static FloatPointer ensure(FloatPointer p, long size) {
        if (p.capacity() >= size) {
            return p;
        }
        p.close();
        return new FloatPointer(size);
    }

    @Override
    public void prepareB(float[] src, int n, int k) {
        long size = (long) n * k;
        b = ensure(b, size);
        copyIn(src, b, n, k);
        this.n = n;
        this.k = k;
    }

    /** Copies rows {@code [0, rows)} of width {@code cols} into native memory, split over the pool's workers. */
    private void copyIn(float[] src, FloatPointer dst, int rows, int cols) {
        FloatBuffer view = new FloatPointer(dst).position(0).limit((long) rows * cols).asBuffer();
        pool.forEach(rows, (t, s, e) -> view.put(s * cols, src, s * cols, (e - s) * cols));
    }

    @Override
    public Product multiply(float[] src, int m) {
        long aSize = (long) m * k;
        long cSize = (long) m * n;
        a = ensure(a, aSize);
        copyIn(src, a, m, k);
        if (c.capacity() < cSize) {
            c = ensure(c, cSize);
            cView = null;
        }
        if (cView == null) {
            cView = c.position(0).capacity(c.capacity()).asBuffer();
        }
        // OpenBLAS keeps one global thread count; another backend in this JVM may have changed it.
        openblas_set_num_threads(threads);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1f, a, k, b, k, 0f, c, n);
        FloatBuffer view = cView;
        int cols = n;
        return (r, dst, off) -> view.get(r * cols, dst, off, cols);
    }

    @Override
    public void close() {
        a.close();
        b.close();
        c.close();
    }
}
