package org.saeforge.core.kernels;

/**
 * Hyper-parameters of one Adam step, PyTorch semantics:
 * {@code m = b1 m + (1-b1) g; v = b2 v + (1-b2) g²; p -= lr/(1-b1^t) · m / (sqrt(v)/sqrt(1-b2^t) + eps)}.
 *
 * @param step 1-based step number t (for bias correction)
 */
public record AdamStep(float lr, float beta1, float beta2, float eps, long step) {
    public AdamStep {
        if (step < 1) {
            throw new IllegalArgumentException("Adam step must be >= 1, got " + step);
        }
    }

    public static AdamStep of(float lr, long step) {
        return new AdamStep(lr, 0.9f, 0.999f, 1e-8f, step);
    }

    /** lr / (1 - beta1^t). */
    public double stepSize() {
        return lr / (1 - Math.pow(beta1, step));
    }

    /** sqrt(1 - beta2^t). */
    public double sqrtBiasCorrection2() {
        return Math.sqrt(1 - Math.pow(beta2, step));
    }
}
