package org.saeforge.core.model;

import java.util.Map;
import java.util.TreeMap;
import org.saeforge.core.SaeException;

/**
 * The shape and activation of a sparse autoencoder.
 *
 * @param architecture     the activation function
 * @param dIn              input width
 * @param numLatents       dictionary size
 * @param k                active latents per row (TopK only; 0 otherwise)
 * @param applyBDecToInput whether the encoder subtracts bDec from its input (SAELens {@code apply_b_dec_to_input})
 * @param metadata         free-form provenance saved in exports (model_name, hook_name, dataset_path, ...)
 */
public record SaeConfig(Architecture architecture, int dIn, int numLatents, int k, boolean applyBDecToInput,
                        Map<String, Object> metadata) {

    public SaeConfig {
        if (architecture == null) {
            throw new SaeException("architecture must be given");
        }
        if (dIn <= 0) {
            throw new SaeException("d_in must be positive, got " + dIn);
        }
        if (numLatents <= 0) {
            throw new SaeException("num-latents must be positive, got " + numLatents);
        }
        if (architecture.usesK()) {
            if (k <= 0 || k > numLatents) {
                throw new SaeException("k must be in [1, num-latents=" + numLatents + "], got " + k);
            }
        } else if (k < 0 || k > numLatents) {
            throw new SaeException("k must be in [0, num-latents=" + numLatents + "], got " + k);
        }
        metadata = metadata == null ? Map.of() : java.util.Collections.unmodifiableMap(new TreeMap<>(metadata));
    }

    /** A TopK configuration with bDec applied to the input and no metadata. */
    public static SaeConfig topK(int dIn, int numLatents, int k) {
        return new SaeConfig(Architecture.TOPK, dIn, numLatents, k, true, Map.of());
    }

    public SaeConfig withMetadata(Map<String, Object> newMetadata) {
        return new SaeConfig(architecture, dIn, numLatents, k, applyBDecToInput, newMetadata);
    }

    public double expansion() {
        return (double) numLatents / dIn;
    }
}
