package org.saeforge.core.io;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.TreeMap;
import org.saeforge.core.FileFormatException;
import org.saeforge.core.model.Architecture;
import org.saeforge.core.model.SaeConfig;
import org.saeforge.core.model.SparseAutoencoder;
import org.saeforge.core.tensor.FloatMatrix;

/**
 * SAELens v6 directories: {@code cfg.json}, {@code sae_weights.safetensors} ({@code W_enc [d_in, d_sae]},
 * {@code b_enc}, {@code W_dec [d_sae, d_in]}, {@code b_dec}, {@code threshold} for jumprelu) and optionally
 * {@code sparsity.safetensors}. See FORMATS.md.
 */
public final class SaeLensFormat {
    public static final String CFG = "cfg.json";
    public static final String WEIGHTS = "sae_weights.safetensors";
    public static final String SPARSITY = "sparsity.safetensors";
    public static final String SAE_LENS_VERSION = "6.0.0";

    private SaeLensFormat() {
    }

    public static boolean looksLike(Path dir) {
        return Files.isRegularFile(dir.resolve(CFG)) && Files.isRegularFile(dir.resolve(WEIGHTS));
    }

    public static SparseAutoencoder load(Path dir) {
        Path cfgFile = dir.resolve(CFG);
        JsonNode cfg = Json.read(cfgFile);
        Architecture arch = Architecture.fromSaeLensName(Json.requireText(cfg, "architecture", cfgFile));
        int dIn = Json.requireInt(cfg, "d_in", cfgFile);
        int dSae = Json.requireInt(cfg, "d_sae", cfgFile);
        int k = arch.usesK() ? Json.requireInt(cfg, "k", cfgFile) : 0;
        boolean applyBDec = !cfg.has("apply_b_dec_to_input") || cfg.get("apply_b_dec_to_input").asBoolean();
        String norm = cfg.path("normalize_activations").asText("none");
        if (!"none".equals(norm)) {
            throw new FileFormatException(cfgFile, "normalize_activations \"" + norm + "\" is not supported (only \"none\")");
        }
        if (cfg.path("rescale_acts_by_decoder_norm").asBoolean(false)) {
            throw new FileFormatException(cfgFile, "rescale_acts_by_decoder_norm=true is not supported");
        }
        Map<String, Object> meta = new TreeMap<>();
        cfg.path("metadata").fields().forEachRemaining(e -> meta.put(e.getKey(), e.getValue().isTextual()
                ? e.getValue().asText() : Json.mapper().convertValue(e.getValue(), Object.class)));
        SaeConfig config = new SaeConfig(arch, dIn, dSae, k, applyBDec, meta);
        try (Safetensors.Reader r = Safetensors.open(dir.resolve(WEIGHTS))) {
            FloatMatrix wEnc = FloatMatrix.wrap(dIn, dSae, r.readFloats("W_enc", dIn, dSae));
            FloatMatrix wDec = FloatMatrix.wrap(dSae, dIn, r.readFloats("W_dec", dSae, dIn));
            float[] bEnc = r.readFloats("b_enc", dSae);
            float[] bDec = r.readFloats("b_dec", dIn);
            float[] threshold = arch.usesThreshold() ? r.readFloats("threshold", dSae) : null;
            return new SparseAutoencoder(config, wEnc.transpose(), bEnc, wDec, bDec, threshold);
        }
    }

    /** The cfg.json object SAELens v6 writes for this SAE. */
    public static ObjectNode configJson(SparseAutoencoder sae) {
        SaeConfig c = sae.config();
        ObjectNode cfg = Json.object();
        cfg.put("architecture", c.architecture().saeLensName());
        cfg.put("d_in", c.dIn());
        cfg.put("d_sae", c.numLatents());
        cfg.put("dtype", "float32");
        cfg.put("device", "cpu");
        cfg.put("apply_b_dec_to_input", c.applyBDecToInput());
        cfg.put("normalize_activations", "none");
        cfg.put("reshape_activations", "none");
        if (c.architecture() == Architecture.TOPK) {
            cfg.put("k", c.k());
            cfg.put("rescale_acts_by_decoder_norm", false);
        }
        ObjectNode meta = cfg.putObject("metadata");
        meta.put("sae_lens_version", SAE_LENS_VERSION);
        meta.put("sae_lens_training_version", SAE_LENS_VERSION);
        for (String key : new String[] {"model_name", "hook_name", "dataset_path", "context_size"}) {
            Object v = c.metadata().get(key);
            if (v == null) {
                meta.putNull(key);
            } else {
                meta.set(key, Json.mapper().valueToTree(v));
            }
        }
        c.metadata().forEach((key, v) -> {
            if (!meta.has(key)) {
                meta.set(key, Json.mapper().valueToTree(v));
            }
        });
        return cfg;
    }

    /** Writes the directory atomically (temp directory, then rename). {@code sparsity} (log10 density) may be null. */
    public static void write(SparseAutoencoder sae, Path dir, float[] sparsity) {
        SaeConfig c = sae.config();
        long dIn = c.dIn();
        long dSae = c.numLatents();
        AtomicFiles.writeDirectory(dir, tmp -> {
            Map<String, Safetensors.Tensor> t = new LinkedHashMap<>();
            t.put("W_enc", Safetensors.Tensor.of(sae.wEnc().data(), dIn, dSae));
            t.put("b_enc", Safetensors.Tensor.of(sae.bEnc(), dSae));
            t.put("W_dec", Safetensors.Tensor.of(java.util.Arrays.copyOf(sae.wDec().data(), sae.wDec().size()), dSae, dIn));
            t.put("b_dec", Safetensors.Tensor.of(sae.bDec(), dIn));
            if (sae.threshold() != null) {
                t.put("threshold", Safetensors.Tensor.of(sae.threshold(), dSae));
            }
            Safetensors.write(tmp.resolve(WEIGHTS), t, Map.of());
            if (sparsity != null) {
                Safetensors.write(tmp.resolve(SPARSITY), Map.of("sparsity", Safetensors.Tensor.of(sparsity, dSae)), Map.of());
            }
            Files.writeString(tmp.resolve(CFG), Json.pretty(configJson(sae)) + "\n");
        });
    }
}
