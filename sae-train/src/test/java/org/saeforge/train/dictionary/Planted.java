package org.saeforge.train.dictionary;

import java.util.Map;
import org.saeforge.core.model.Architecture;
import org.saeforge.core.model.SaeConfig;
import org.saeforge.core.model.SparseAutoencoder;
import org.saeforge.core.tensor.FloatMatrix;

/** SAEs with chosen weights, so that which latent fires on which row is known in advance. */
final class Planted {
    private Planted() {
    }

    /** A ReLU SAE with identity encoder and decoder and zero biases: latent j's activation on x is max(x_j, 0). */
    static SparseAutoencoder identityRelu(int n) {
        FloatMatrix eye = new FloatMatrix(n, n);
        for (int i = 0; i < n; i++) {
            eye.set(i, i, 1f);
        }
        return new SparseAutoencoder(new SaeConfig(Architecture.RELU, n, n, 0, true, Map.of()), eye, new float[n], eye.copy(),
                new float[n], null);
    }
}
