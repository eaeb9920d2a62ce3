package org.saeforge.core.io;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import org.saeforge.core.FileFormatException;
import org.saeforge.core.model.Architecture;
import org.saeforge.core.model.SaeConfig;
import org.saeforge.core.model.SparseAutoencoder;
import org.saeforge.core.tensor.FloatMatrix;

/**
 * EleutherAI sparsify directories: {@code cfg.json} and {@code sae.safetensors} with {@code encoder.weight
 * [num_latents, d_in]} (the same latent-major layout as {@link SparseAutoencoder#wEncT()}), {@code encoder.bias},
 * {@code W_dec [num_latents, d_in]}, {@code b_dec}. TopK only.
 */
public final class SparsifyFormat {
    public static final String CFG = "cfg.json";
    public static final String WEIGHTS = "sae.safetensors";

    private SparsifyFormat() {
    }

    public static boolean looksLike(Path dir) {
        return Files.isRegularFile(dir.resolve(CFG)) && Files.isRegularFile(dir.resolve(WEIGHTS));
    }

    public static SparseAutoencoder load(Path dir) {
        Path cfgFile = dir.resolve(CFG);
        JsonNode cfg = Json.read(cfgFile);
        String activation = cfg.path("activation").asText("topk");
        if (!"topk".equals(activation)) {
            throw new FileFormatException(cfgFile, "sparsify activation \"" + activation + "\" is not supported (only topk)");
        }
        for (String flag : new String[] {"multi_topk", "skip_connection", "transcode"}) {
            if (cfg.path(flag).asBoolean(false)) {
                throw new FileFormatException(cfgFile, "sparsify option " + flag + "=true is not supported");
            }
        }
        int k = Json.requireInt(cfg, "k", cfgFile);
        try (Safetensors.Reader r = Safetensors.open(dir.resolve(WEIGHTS))) {
            Safetensors.TensorInfo enc = r.require("encoder.weight");
            if (enc.shape().length != 2) {
                throw new FileFormatException(r.file(), "encoder.weight must be 2-D, has shape " + java.util.Arrays.toString(enc.shape()));
            }
            int n = (int) enc.shape()[0];
            int dIn = (int) enc.shape()[1];
            if (cfg.has("d_in") && cfg.get("d_in").asInt() != dIn) {
                throw new FileFormatException(cfgFile, "d_in " + cfg.get("d_in").asInt() + " does not match encoder.weight width " + dIn);
            }
            if (cfg.has("num_latents") && cfg.get("num_latents").asInt() > 0 && cfg.get("num_latents").asInt() != n) {
                throw new FileFormatException(cfgFile, "num_latents " + cfg.get("num_latents").asInt() + " does not match encoder.weight rows " + n);
            }
            SaeConfig config = new SaeConfig(Architecture.TOPK, dIn, n, k, true, Map.of());
            return new SparseAutoencoder(config,
                    FloatMatrix.wrap(n, dIn, r.readFloats("encoder.weight", n, dIn)),
                    r.readFloats("encoder.bias", n),
                    FloatMatrix.wrap(n, dIn, r.readFloats("W_dec", n, dIn)),
                    r.readFloats("b_dec", dIn), null);
        }
    }

    public static ObjectNode configJson(SparseAutoencoder sae) {
        SaeConfig c = sae.config();
        ObjectNode cfg = Json.object();
        cfg.put("activation", "topk");
        cfg.put("expansion_factor", Math.max(1, c.numLatents() / c.dIn()));
        cfg.put("normalize_decoder", true);
        cfg.put("num_latents", c.numLatents());
        cfg.put("k", c.k());
        cfg.put("multi_topk", false);
        cfg.put("skip_connection", false);
        cfg.put("transcode", false);
        cfg.put("d_in", c.dIn());
        return cfg;
    }

    /** Writes the directory atomically. Only TopK SAEs with bDec applied to the input fit this format. */
    public static void write(SparseAutoencoder sae, Path dir) {
        SaeConfig c = sae.config();
        if (c.architecture() != Architecture.TOPK || !c.applyBDecToInput()) {
            throw new org.saeforge.core.SaeException("the sparsify format holds TopK SAEs only; this one is "
                    + c.architecture().cliName() + " (use --format saelens)");
        }
        long n = c.numLatents();
        long d = c.dIn();
        AtomicFiles.writeDirectory(dir, tmp -> {
            Map<String, Safetensors.Tensor> t = new LinkedHashMap<>();
            t.put("encoder.weight", Safetensors.Tensor.of(java.util.Arrays.copyOf(sae.wEncT().data(), sae.wEncT().size()), n, d));
            t.put("encoder.bias", Safetensors.Tensor.of(sae.bEnc(), n));
            t.put("W_dec", Safetensors.Tensor.of(java.util.Arrays.copyOf(sae.wDec().data(), sae.wDec().size()), n, d));
            t.put("b_dec", Safetensors.Tensor.of(sae.bDec(), d));
            Safetensors.write(tmp.resolve(WEIGHTS), t, Map.of());
            Files.writeString(tmp.resolve(CFG), Json.pretty(configJson(sae)) + "\n");
        });
    }
}
