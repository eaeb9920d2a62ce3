package org.saeforge.core.io;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.BufferedReader;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import org.saeforge.core.FileFormatException;
import org.saeforge.core.data.Modality;

/**
 * A feature dictionary written by {@code sae dictionary} (FORMATS.md "feature dictionary"): the summary
 * {@code dictionary.json} and one {@link Feature} per latent from {@code features.jsonl}.
 *
 * <p>Fields whose input was absent (no row metadata, no paired rows, no labels) are absent in the files; here they
 * are null (objects) or NaN / -1 (numbers), never invented values. {@link Feature#toJson()} is the one place that maps
 * a feature to its JSON line, so the writer and this loader cannot drift apart.
 *
 * <pre>{@code
 * FeatureDictionary dict = FeatureDictionary.load(Path.of("dict"));
 * for (FeatureDictionary.Feature f : dict.features()) {
 *     if (f.modality() != null && f.modality().imageShare() > 0.95) {
 *         System.out.println(f.id() + " image-only, label " + (f.label() == null ? "-" : f.label().text()));
 *     }
 * }
 * }</pre>
 */
public final class FeatureDictionary {
    public static final String FORMAT = "saeforge-dictionary";
    public static final int VERSION = 1;
    public static final String SUMMARY_FILE = "dictionary.json";
    public static final String FEATURES_FILE = "features.jsonl";
    public static final String SPARSITY_FILE = "sparsity.safetensors";
    public static final String HTML_FILE = "index.html";

    private final JsonNode summary;
    private final List<Feature> features;

    private FeatureDictionary(JsonNode summary, List<Feature> features) {
        this.summary = summary;
        this.features = Collections.unmodifiableList(features);
    }

    /** The parsed {@code dictionary.json}: sae, data, metrics, density_histogram, cross_modal. */
    public JsonNode summary() {
        return summary;
    }

    /** Every latent's record, in id order (the list index is the latent id). */
    public List<Feature> features() {
        return features;
    }

    public Feature feature(int id) {
        return features.get(id);
    }

    /** Number of latents ({@code d_sae}). */
    public int numLatents() {
        return features.size();
    }

    /**
     * Firing rate and energy {@code E[z²]} among image rows and among text rows (per-modality means), and the
     * energy shares {@code image_share = E_img / (E_img + E_txt)}, {@code text_share = 1 - image_share}; the shares
     * are NaN for a latent that never fires.
     */
    public record ModalityScores(double imageRate, double textRate, double imageEnergy, double textEnergy,
                                 double imageShare, double textShare) {
    }

    /**
     * Co-firing on matched image–text pairs (rows sharing a source id) versus on mismatched pairs; {@code lift} is NaN
     * when the mismatched rate is zero.
     */
    public record Bridge(double pairedCofire, double randomCofire, double lift) {
    }

    /** One of a latent's top activating rows with the row's metadata (-1, null where absent). */
    public record Example(long row, double activation, long sourceId, Modality modality, long position, String label) {
    }

    /** A latent with a high decoder cosine. */
    public record Neighbor(int id, double cosine) {
    }

    /**
     * A label and its confidence. {@code method} is {@code embedding} (nearest text embedding to the decoder
     * direction; score = cosine, margin = top-1 minus top-2 cosine) or {@code top_examples} (most frequent label
     * among the top examples; score = its share, margin = its share minus the runner-up's). Margin may be NaN.
     */
    public record Label(String text, double score, double margin, String method) {
    }

    /**
     * Counts of a latent's positive activations in log-spaced bins: {@code counts[b]} covers
     * {@code log10(z)} in {@code [log10Min + b·w, log10Min + (b+1)·w)}, {@code w = (log10Max - log10Min) / bins};
     * {@code below} and {@code above} count values outside the range.
     */
    public record Histogram(double log10Min, double log10Max, long below, long[] counts, long above) {
    }

    /**
     * One latent. {@code density} is the firing frequency over all rows; {@code meanActivation} the mean over the
     * rows where it fires (NaN when it never fires); {@code decoderNorm} the norm of its decoder row.
     */
    public record Feature(int id, double density, double meanActivation, double maxActivation, double decoderNorm,
                          ModalityScores modality, Bridge bridge, List<Example> topExamples, List<Neighbor> nearest,
                          Label label, Histogram activationHistogram) {

        /** The features.jsonl line of this feature (absent inputs are left out). */
        public ObjectNode toJson() {
            ObjectNode o = Json.object();
            o.put("id", id);
            o.put("density", density);
            putIfFinite(o, "mean_activation", meanActivation);
            o.put("max_activation", (float) maxActivation);
            o.put("decoder_norm", (float) decoderNorm);
            if (modality != null) {
                ObjectNode m = o.putObject("modality");
                m.put("image_rate", modality.imageRate());
                m.put("text_rate", modality.textRate());
                m.put("image_energy", modality.imageEnergy());
                m.put("text_energy", modality.textEnergy());
                putIfFinite(m, "image_share", modality.imageShare());
                putIfFinite(m, "text_share", modality.textShare());
            }
            if (bridge != null) {
                ObjectNode b = o.putObject("bridge");
                b.put("paired_cofire", bridge.pairedCofire());
                b.put("random_cofire", bridge.randomCofire());
                putIfFinite(b, "lift", bridge.lift());
            }
            ArrayNode ex = o.putArray("top_examples");
            for (Example e : topExamples) {
                ObjectNode x = ex.addObject();
                x.put("row", e.row());
                x.put("activation", (float) e.activation());
                if (e.sourceId() >= 0) {
                    x.put("source_id", e.sourceId());
                }
                if (e.modality() != null) {
                    x.put("modality", e.modality().cliName());
                }
                if (e.position() >= 0) {
                    x.put("position", e.position());
                }
                if (e.label() != null) {
                    x.put("label", e.label());
                }
            }
            ArrayNode nn = o.putArray("nearest");
            for (Neighbor n : nearest) {
                nn.addObject().put("id", n.id()).put("cosine", (float) n.cosine());
            }
            if (label != null) {
                ObjectNode l = o.putObject("label");
                l.put("text", label.text());
                l.put("score", label.score());
                putIfFinite(l, "margin", label.margin());
                l.put("method", label.method());
            }
            if (activationHistogram != null) {
                ObjectNode h = o.putObject("activation_histogram");
                h.put("log10_min", activationHistogram.log10Min());
                h.put("log10_max", activationHistogram.log10Max());
                h.put("below", activationHistogram.below());
                ArrayNode c = h.putArray("counts");
                for (long v : activationHistogram.counts()) {
                    c.add(v);
                }
                h.put("above", activationHistogram.above());
            }
            return o;
        }

        /** Parses one features.jsonl line; {@code file} and {@code line} are for messages. */
        public static Feature fromJson(JsonNode o, Path file, long line) {
            Field f = new Field(file, line);
            ModalityScores modality = null;
            JsonNode m = o.get("modality");
            if (m != null) {
                modality = new ModalityScores(f.num(m, "image_rate"), f.num(m, "text_rate"), f.num(m, "image_energy"),
                        f.num(m, "text_energy"), f.optNum(m, "image_share"), f.optNum(m, "text_share"));
            }
            Bridge bridge = null;
            JsonNode b = o.get("bridge");
            if (b != null) {
                bridge = new Bridge(f.num(b, "paired_cofire"), f.num(b, "random_cofire"), f.optNum(b, "lift"));
            }
            List<Example> examples = new ArrayList<>();
            for (JsonNode e : f.array(o, "top_examples")) {
                JsonNode mod = e.get("modality");
                examples.add(new Example(f.integer(e, "row"), f.num(e, "activation"), e.path("source_id").asLong(-1),
                        mod == null ? null : parseModality(mod, f), e.path("position").asLong(-1),
                        e.hasNonNull("label") ? e.get("label").asText() : null));
            }
            List<Neighbor> nearest = new ArrayList<>();
            for (JsonNode n : f.array(o, "nearest")) {
                nearest.add(new Neighbor((int) f.integer(n, "id"), f.num(n, "cosine")));
            }
            Label label = null;
            JsonNode l = o.get("label");
            if (l != null) {
                label = new Label(f.text(l, "text"), f.num(l, "score"), f.optNum(l, "margin"), f.text(l, "method"));
            }
            Histogram hist = null;
            JsonNode h = o.get("activation_histogram");
            if (h != null) {
                JsonNode counts = f.array(h, "counts");
                long[] c = new long[counts.size()];
                for (int i = 0; i < c.length; i++) {
                    c[i] = counts.get(i).asLong();
                }
                hist = new Histogram(f.num(h, "log10_min"), f.num(h, "log10_max"), f.integer(h, "below"), c, f.integer(h, "above"));
            }
            return new Feature((int) f.integer(o, "id"), f.num(o, "density"), f.optNum(o, "mean_activation"),
                    f.num(o, "max_activation"), f.num(o, "decoder_norm"), modality, bridge, List.copyOf(examples),
                    List.copyOf(nearest), label, hist);
        }

        private static Modality parseModality(JsonNode mod, Field f) {
            try {
                return Modality.parse(mod.asText());
            } catch (org.saeforge.core.SaeException e) {
                throw f.bad(e.getMessage());
            }
        }

        private static void putIfFinite(ObjectNode o, String name, double v) {
            if (Double.isFinite(v)) {
                o.put(name, v);
            }
        }
    }

    /** Field access that fails with the file, line and field name. */
    private record Field(Path file, long line) {
        FileFormatException bad(String what) {
            return new FileFormatException(file, "line " + line + ": " + what);
        }

        double num(JsonNode o, String name) {
            JsonNode v = o.get(name);
            if (v == null || !v.isNumber()) {
                throw bad("missing or non-numeric field \"" + name + "\"");
            }
            return v.asDouble();
        }

        double optNum(JsonNode o, String name) {
            return o.has(name) ? num(o, name) : Double.NaN;
        }

        long integer(JsonNode o, String name) {
            JsonNode v = o.get(name);
            if (v == null || !v.canConvertToLong() || !v.isIntegralNumber()) {
                throw bad("missing or non-integer field \"" + name + "\"");
            }
            return v.asLong();
        }

        String text(JsonNode o, String name) {
            JsonNode v = o.get(name);
            if (v == null || !v.isTextual()) {
                throw bad("missing or non-string field \"" + name + "\"");
            }
            return v.asText();
        }

        JsonNode array(JsonNode o, String name) {
            JsonNode v = o.get(name);
            if (v == null || !v.isArray()) {
                throw bad("missing or non-array field \"" + name + "\"");
            }
            return v;
        }
    }

    /**
     * Loads {@code dictionary.json} and {@code features.jsonl} from a dictionary folder (or a SAELens directory the
     * dictionary was also written into). Checks the format tag, the version and that features.jsonl holds exactly one
     * line per latent in id order.
     */
    public static FeatureDictionary load(Path dir) {
        if (!Files.isDirectory(dir)) {
            throw new FileFormatException(dir, Files.exists(dir) ? "expected a dictionary folder, got a file" : "no such dictionary folder");
        }
        Path summaryFile = dir.resolve(SUMMARY_FILE);
        JsonNode summary = Json.read(summaryFile);
        String format = summary.path("format").asText("");
        if (!FORMAT.equals(format)) {
            throw new FileFormatException(summaryFile, "not a feature dictionary (format \"" + format + "\", expected \"" + FORMAT + "\")");
        }
        int version = Json.requireInt(summary, "version", summaryFile);
        if (version != VERSION) {
            throw new FileFormatException(summaryFile, "dictionary version " + version + " is not supported (expected " + VERSION + ")");
        }
        int dSae = Json.requireInt(summary.path("sae"), "d_sae", summaryFile);
        Path featuresFile = dir.resolve(FEATURES_FILE);
        List<Feature> features = new ArrayList<>(dSae);
        try (BufferedReader in = Files.newBufferedReader(featuresFile, StandardCharsets.UTF_8)) {
            String text;
            long line = 0;
            while ((text = in.readLine()) != null) {
                line++;
                if (text.isBlank()) {
                    continue;
                }
                JsonNode node;
                try {
                    node = Json.mapper().readTree(text);
                } catch (JsonProcessingException e) {
                    throw new FileFormatException(featuresFile, "line " + line + ": not valid JSON (" + e.getOriginalMessage() + ")");
                }
                Feature f = Feature.fromJson(node, featuresFile, line);
                if (f.id() != features.size()) {
                    throw new FileFormatException(featuresFile, "line " + line + ": feature id " + f.id() + ", expected " + features.size()
                            + " (one line per latent, in id order)");
                }
                features.add(f);
            }
        } catch (NoSuchFileException e) {
            throw new FileFormatException(featuresFile, "file not found");
        } catch (IOException e) {
            throw new FileFormatException(featuresFile, "cannot read (" + e.getMessage() + ")");
        }
        if (features.size() != dSae) {
            throw new FileFormatException(featuresFile, "holds " + features.size() + " features but " + SUMMARY_FILE + " says d_sae " + dSae
                    + " (truncated?)");
        }
        return new FeatureDictionary(summary, features);
    }
}
