package org.saeforge.core.kernels.cuda;

import java.util.Arrays;
import java.util.HashSet;
import java.util.Set;
import org.saeforge.core.kernels.cpu.ReferenceKernels;

/**
 * The rule by which a GPU top-k row is compared with the float64 reference, given a bound {@code bound[j]} on the
 * GPU's absolute error in pre-activation j (from the operand precision and {@code Σ|x_i w_ji|}).
 *
 * <ul>
 *   <li>the k latents are distinct and eligible (all latents, or the dead ones for AuxK);</li>
 *   <li>every value is within {@code bound[j]} of {@code relu(pre[j])};</li>
 *   <li>values are in the selection order: descending, equal values by ascending latent;</li>
 *   <li><b>near-tie rule:</b> the latent set equals the reference's except for latents whose reference value lies
 *       within a positive margin {@code bound[j] + max bound} of the reference's k-th value {@code v_k}. Only such
 *       latents can trade places under errors within the bounds; with exact arithmetic (all bounds 0) the sets must
 *       be equal, so an exact tie at {@code v_k} must go to the lower latent index, as in the reference.</li>
 * </ul>
 */
final class TopKCheck {
    private TopKCheck() {
    }

    /** Null when row {@code off / k} of the GPU output is acceptable, else what is wrong. */
    static String check(double[] pre, int[] eligible, double[] bound, int[] idx, float[] val, int off, int k) {
        Set<Integer> allowed = new HashSet<>();
        double maxBound = 0;
        for (int j : eligible) {
            allowed.add(j);
            maxBound = Math.max(maxBound, bound[j]);
        }
        Set<Integer> gpu = new HashSet<>();
        for (int e = 0; e < k; e++) {
            int j = idx[off + e];
            if (!allowed.contains(j)) {
                return "entry " + e + ": latent " + j + " is not eligible";
            }
            if (!gpu.add(j)) {
                return "entry " + e + ": latent " + j + " selected twice";
            }
            float v = val[off + e];
            double want = Math.max(0.0, pre[j]);
            if (!(Math.abs(v - want) <= bound[j])) {
                return "entry " + e + ": latent " + j + " has value " + v + ", reference " + want + " (bound " + bound[j] + ")";
            }
            if (e > 0) {
                float pv = val[off + e - 1];
                int pj = idx[off + e - 1];
                // ReLU'd zeros keep the order of their (negative) pre-activations, which the output does not show.
                if (pv < v || (pv == v && v > 0 && pj > j)) {
                    return "entries " + (e - 1) + ", " + e + " out of order: (" + pj + ", " + pv + ") before (" + j + ", " + v + ")";
                }
            }
        }
        int[] ref = ReferenceKernels.topKIndices(pre, eligible, k);
        double vk = pre[ref[k - 1]];
        Set<Integer> refSet = new HashSet<>();
        for (int j : ref) {
            refSet.add(j);
        }
        Set<Integer> diff = new HashSet<>(gpu);
        diff.addAll(refSet);
        Set<Integer> both = new HashSet<>(gpu);
        both.retainAll(refSet);
        diff.removeAll(both);
        for (int j : diff) {
            double margin = bound[j] + maxBound;
            if (!(margin > 0 && Math.abs(pre[j] - vk) <= margin)) {
                return "latent " + j + (gpu.contains(j) ? " selected" : " missed") + " with reference value " + pre[j]
                        + ", not a near-tie of the k-th value " + vk + " (margin " + margin + "); reference "
                        + Arrays.toString(ref);
            }
        }
        return null;
    }
}
