package org.saeforge.core.kernels.cuda;

import org.junit.jupiter.api.Test;
import org.saeforge.core.kernels.AdamStep;
import org.saeforge.core.kernels.cpu.ReferenceKernels;
import org.saeforge.core.tensor.FloatMatrix;

/**
 * adam.cu against {@link ReferenceKernels}: Adam (PyTorch semantics), the parallel-component removal, the row
 * renormalisation, and the fused decoder step against those three in sequence. fp32, tolerance
 * {@value CudaTestSupport#TOL_FP32}.
 */
class AdamKernelTest extends Fp32CudaTest {
    @Test
    void adamMatchesTheReference() {
        long seed = 1;
        for (int n : new int[] {1, 7, 1001, 65_537}) {
            for (long t : new long[] {1, 2, 1000}) {
                // Parameters of the update's size, so that an error in the update shows in the parameters' error.
                float[] p = CudaTestSupport.random(n, seed++, 1e-3f);
                float[] g = CudaTestSupport.random(n, seed++, 0.1f);
                float[] m = CudaTestSupport.random(n, seed++, 0.01f);
                float[] v = CudaTestSupport.random(n, seed++, 0.001f);
                for (int i = 0; i < n; i++) {
                    v[i] = Math.abs(v[i]);
                }
                float[] pr = p.clone();
                float[] mr = m.clone();
                float[] vr = v.clone();
                AdamStep step = AdamStep.of(1e-3f, t);
                ref.adam(pr, g, mr, vr, n, step);
                long before = kernels.context().launches();
                kernels.adam(p, g, m, v, n, step);
                String what = "adam n=" + n + " t=" + t;
                CudaTestSupport.assertRanOnGpu(kernels, before, what);
                CudaTestSupport.assertRelError(p, pr, n, CudaTestSupport.TOL_FP32, what + " param");
                CudaTestSupport.assertRelError(m, mr, n, CudaTestSupport.TOL_FP32, what + " m");
                CudaTestSupport.assertRelError(v, vr, n, CudaTestSupport.TOL_FP32, what + " v");
            }
        }
    }

    @Test
    void decoderRowConstraintMatchesTheReference() {
        long seed = 100;
        for (int[] s : new int[][] {{1, 1}, {3, 37}, {301, 1024}, {64, 4097}}) {
            FloatMatrix w = CudaTestSupport.randomMatrix(s[0], s[1], seed++, 1f);
            ref.normalizeRows(w);
            FloatMatrix g = CudaTestSupport.randomMatrix(s[0], s[1], seed++, 0.1f);

            FloatMatrix gr = g.copy();
            ref.removeParallelComponent(w, gr);
            FloatMatrix gc = g.copy();
            kernels.removeParallelComponent(w, gc);
            // a 1-column row takes the whole gradient: the result is rounding noise, measured against the gradient
            CudaTestSupport.assertErrorRelativeTo(gc.data(), gr.data(), g.data(), gc.size(), CudaTestSupport.TOL_FP32,
                    "removeParallelComponent " + s[0] + "x" + s[1]);

            FloatMatrix wr = CudaTestSupport.randomMatrix(s[0], s[1], seed++, 3f);
            FloatMatrix wc = wr.copy();
            ref.normalizeRows(wr);
            kernels.normalizeRows(wc);
            CudaTestSupport.assertRelError(wc.data(), wr.data(), wc.size(), CudaTestSupport.TOL_FP32,
                    "normalizeRows " + s[0] + "x" + s[1]);
        }
    }

    @Test
    void fusedDecoderStepEqualsTheThreeSteps() {
        long seed = 200;
        for (int[] s : new int[][] {{1, 1}, {5, 37}, {301, 1024}, {64, 4097}}) {
            int n = s[0] * s[1];
            FloatMatrix w = CudaTestSupport.randomMatrix(s[0], s[1], seed++, 1f);
            ref.normalizeRows(w);
            FloatMatrix g = CudaTestSupport.randomMatrix(s[0], s[1], seed++, 0.1f);
            float[] m = CudaTestSupport.random(n, seed++, 0.01f);
            float[] v = CudaTestSupport.random(n, seed++, 0.001f);
            for (int i = 0; i < n; i++) {
                v[i] = Math.abs(v[i]);
            }
            AdamStep step = AdamStep.of(3e-4f, 17);
            FloatMatrix wr = w.copy();
            FloatMatrix gr = g.copy();
            float[] g0 = g.data().clone();
            float[] mr = m.clone();
            float[] vr = v.clone();
            ref.removeParallelComponent(wr, gr);
            ref.adam(wr.data(), gr.data(), mr, vr, n, step);
            ref.normalizeRows(wr);
            long before = kernels.context().launches();
            kernels.adamDecoderRows(w, g, m, v, step);
            String what = "adamDecoderRows " + s[0] + "x" + s[1];
            CudaTestSupport.assertRanOnGpu(kernels, before, what);
            CudaTestSupport.assertRelError(w.data(), wr.data(), n, CudaTestSupport.TOL_FP32, what + " w");
            CudaTestSupport.assertErrorRelativeTo(g.data(), gr.data(), g0, n, CudaTestSupport.TOL_FP32, what + " projected grad");
            CudaTestSupport.assertRelError(m, mr, n, CudaTestSupport.TOL_FP32, what + " m");
            CudaTestSupport.assertRelError(v, vr, n, CudaTestSupport.TOL_FP32, what + " v");
        }
    }
}
