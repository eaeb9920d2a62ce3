package org.saeforge.train.dictionary;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.saeforge.core.data.RowMetadata;
import org.saeforge.core.io.FeatureDictionary;
import org.saeforge.core.io.FeatureDictionary.Bridge;
import org.saeforge.core.io.FeatureDictionary.Example;
import org.saeforge.core.io.FeatureDictionary.Feature;
import org.saeforge.core.io.FeatureDictionary.Histogram;
import org.saeforge.core.io.FeatureDictionary.Label;
import org.saeforge.core.io.FeatureDictionary.ModalityScores;
import org.saeforge.core.io.FeatureDictionary.Neighbor;
import org.saeforge.core.io.Json;
import org.saeforge.core.model.SparseAutoencoder;

/**
 * What {@link DictionaryBuilder} measured, turned into {@link Feature} records one latent at a time (so a dictionary
 * of 65,536 latents is never held as objects) and into the {@code dictionary.json} summary. Example metadata is read
 * from the {@link RowMetadata} when a feature is asked for: keep its source open until the dictionary is written.
 */
public final class DictionaryResult {
    public static final String LABEL_METHOD_EXAMPLES = "top_examples";
    static final String DIRECTION_LABEL_NOTE = "direction labels are meaningful only when the SAE was trained in the joint "
            + "embedding space the vocabulary comes from (e.g. CLIP output embeddings), not for inner-layer activations";

    private final DictionaryConfig config;
    private final SparseAutoencoder sae;
    private final Path dataPath;
    private final long rowsRead;
    private final String weightsSha256;
    private final LatentStats stats;
    private final TopExamples top;
    private final DictionaryBuilder.ReconstructionMetrics metrics;
    private final TopCosine nearest;
    private final BridgeTracker.Counts bridge;
    private final RowMetadata metadata;
    private final Label[] directionLabels;
    private final LabelVocabulary vocabulary;
    private final float[] decoderNorms;

    DictionaryResult(DictionaryConfig config, SparseAutoencoder sae, Path dataPath, long rowsRead, String weightsSha256,
                     LatentStats stats, TopExamples top, DictionaryBuilder.ReconstructionMetrics metrics, TopCosine nearest,
                     BridgeTracker.Counts bridge, RowMetadata metadata, Label[] directionLabels, LabelVocabulary vocabulary) {
        this.config = config;
        this.sae = sae;
        this.dataPath = dataPath;
        this.rowsRead = rowsRead;
        this.weightsSha256 = weightsSha256;
        this.stats = stats;
        this.top = top;
        this.metrics = metrics;
        this.nearest = nearest;
        this.bridge = bridge;
        this.metadata = metadata;
        this.directionLabels = directionLabels;
        this.vocabulary = vocabulary;
        float[] inv = TopCosine.inverseNorms(sae.wDec());
        this.decoderNorms = new float[inv.length];
        for (int j = 0; j < inv.length; j++) {
            decoderNorms[j] = inv[j] == 0f ? 0f : 1f / inv[j];
        }
    }

    public int numLatents() {
        return stats.numLatents;
    }

    public DictionaryConfig config() {
        return config;
    }

    /** Rows that were encoded (finite rows among those read). */
    public long rows() {
        return metrics.rows();
    }

    public double density(int j) {
        return (double) stats.fired[j] / metrics.rows();
    }

    /** log10 firing frequency per latent (SAELens sparsity.safetensors); never-firing latents get -10. */
    public float[] log10Density() {
        float[] s = new float[numLatents()];
        for (int j = 0; j < s.length; j++) {
            s[j] = (float) Math.log10(density(j) + 1e-10);
        }
        return s;
    }

    /** Image energy share of latent j, NaN without modality scores or when it never fires on image or text rows. */
    public double imageShare(int j) {
        if (!stats.hasModalityScores()) {
            return Double.NaN;
        }
        double ei = stats.energyImage[j] / stats.imageRows;
        double et = stats.energyText[j] / stats.textRows;
        return ei + et > 0 ? ei / (ei + et) : Double.NaN;
    }

    /** The record of latent j, with its top examples' metadata read now. */
    public Feature feature(int j) {
        long fired = stats.fired[j];
        ModalityScores modality = null;
        if (stats.hasModalityScores()) {
            double ei = stats.energyImage[j] / stats.imageRows;
            double et = stats.energyText[j] / stats.textRows;
            double share = imageShare(j);
            modality = new ModalityScores((double) stats.firedImage[j] / stats.imageRows, (double) stats.firedText[j] / stats.textRows,
                    ei, et, share, Double.isNaN(share) ? Double.NaN : 1 - share);
        }
        Bridge b = bridge == null ? null : new Bridge(bridge.paired(j), bridge.random(j), bridge.lift(j));
        List<Example> examples = examples(j);
        List<Neighbor> nn = new ArrayList<>(nearest.count(j));
        for (int t = 0; t < nearest.count(j); t++) {
            nn.add(new Neighbor(nearest.id(j, t), nearest.cosine(j, t)));
        }
        Label label = directionLabels != null ? directionLabels[j] : exampleLabel(examples);
        Histogram hist = fired == 0 ? null
                : new Histogram(stats.log10Min, stats.log10Max, stats.below[j], stats.histogram(j), stats.above[j]);
        return new Feature(j, density(j), fired == 0 ? Double.NaN : stats.sum[j] / fired, stats.max[j], decoderNorms[j], modality, b,
                examples, List.copyOf(nn), label, hist);
    }

    private List<Example> examples(int j) {
        int[] slots = top.sortedSlots(j);
        List<Example> out = new ArrayList<>(slots.length);
        for (int slot : slots) {
            out.add(example(top.row(slot), top.activation(slot)));
        }
        return List.copyOf(out);
    }

    /** Row {@code row} with its metadata (what exists of it) and the given activation. */
    Example example(long row, double activation) {
        if (metadata == null) {
            return new Example(row, activation, -1, null, -1, null);
        }
        return new Example(row, activation, metadata.hasSourceId() ? metadata.sourceId(row) : -1,
                metadata.hasModality() ? metadata.modality(row) : null, metadata.hasPosition() ? metadata.position(row) : -1,
                metadata.hasLabel() ? metadata.label(row) : null);
    }

    /** The most frequent label among the examples (ties: the one reached first, i.e. on the higher activation). */
    static Label exampleLabel(List<Example> examples) {
        Map<String, Integer> counts = new LinkedHashMap<>();
        for (Example e : examples) {
            if (e.label() != null) {
                counts.merge(e.label(), 1, Integer::sum);
            }
        }
        if (counts.isEmpty()) {
            return null;
        }
        String best = null;
        int first = 0;
        int second = 0;
        for (Map.Entry<String, Integer> e : counts.entrySet()) {
            int c = e.getValue();
            if (c > first) {
                second = first;
                first = c;
                best = e.getKey();
            } else if (c > second) {
                second = c;
            }
        }
        double n = examples.size();
        return new Label(best, first / n, (first - second) / n, LABEL_METHOD_EXAMPLES);
    }

    /** The {@code dictionary.json} object (FORMATS.md "feature dictionary"). */
    public ObjectNode summaryJson() {
        ObjectNode o = Json.object();
        o.put("format", FeatureDictionary.FORMAT);
        o.put("version", FeatureDictionary.VERSION);
        ObjectNode s = o.putObject("sae");
        s.put("architecture", sae.config().architecture().cliName());
        s.put("d_in", sae.dIn());
        s.put("d_sae", sae.numLatents());
        if (sae.config().architecture().usesK()) {
            s.put("k", sae.config().k());
        }
        s.put("weights_sha256", weightsSha256);
        ObjectNode data = o.putObject("data");
        data.put("path", dataPath.toString());
        data.put("rows", rowsRead);
        if (metadata != null && metadata.hasModality()) {
            ObjectNode byMod = data.putObject("rows_by_modality");
            byMod.put("image", stats.imageRows);
            byMod.put("text", stats.textRows);
            byMod.put("unknown", stats.unknownRows);
        }
        o.set("metrics", metricsJson());
        o.set("density_histogram", densityHistogram());
        ObjectNode ah = o.putObject("activation_histogram");
        ah.put("log10_min", stats.log10Min);
        ah.put("log10_max", stats.log10Max);
        ah.put("bins", stats.bins);
        o.put("top_n", config.topN());
        o.put("nearest", config.nearest());
        ObjectNode labels = o.putObject("labels");
        if (vocabulary != null) {
            labels.put("method", LabelVocabulary.METHOD);
            labels.put("vocabulary", vocabulary.embeddingsFile().toString());
            labels.put("vocabulary_size", vocabulary.size());
            labels.put("mean_centred", true);
            labels.put("note", DIRECTION_LABEL_NOTE);
        } else if (metadata != null && metadata.hasLabel()) {
            labels.put("method", LABEL_METHOD_EXAMPLES);
        } else {
            labels.put("method", "none");
        }
        if (stats.hasModalityScores()) {
            o.set("cross_modal", crossModal());
        }
        return o;
    }

    private ObjectNode metricsJson() {
        int n = numLatents();
        int dead = 0;
        int dense = 0;
        for (int j = 0; j < n; j++) {
            if (stats.fired[j] == 0) {
                dead++;
            }
            if (density(j) > 0.1) {
                dense++;
            }
        }
        ObjectNode m = Json.object();
        m.put("fvu", metrics.fvu());
        m.put("mse", metrics.mse());
        m.put("l0", metrics.l0());
        m.put("dead_fraction", (double) dead / n);
        m.put("dense_fraction", (double) dense / n);
        m.put("rows_evaluated", metrics.rows());
        if (metrics.skippedRows() > 0) {
            m.put("rows_skipped_bad", metrics.skippedRows());
        }
        return m;
    }

    /**
     * Histogram of log10(density) over the latents that fired, four bins per decade from the rarest possible
     * density (one row) to 1; never-firing latents are counted apart as {@code dead}.
     */
    private ObjectNode densityHistogram() {
        double lo = Math.max(-10, Math.floor(Math.log10(1.0 / metrics.rows())));
        int bins = Math.max(1, (int) Math.round(-lo * 4));
        long[] counts = new long[bins];
        long dead = 0;
        for (int j = 0; j < numLatents(); j++) {
            double dj = density(j);
            if (dj == 0) {
                dead++;
                continue;
            }
            int b = (int) ((Math.log10(dj) - lo) / -lo * bins);
            counts[Math.max(0, Math.min(bins - 1, b))]++;
        }
        ObjectNode h = Json.object();
        h.put("log10_min", lo);
        h.put("log10_max", 0.0);
        h.put("bins", bins);
        ArrayNode c = h.putArray("counts");
        for (long v : counts) {
            c.add(v);
        }
        h.put("dead", dead);
        return h;
    }

    private ObjectNode crossModal() {
        int imageOnly = 0;
        int textOnly = 0;
        int shared = 0;
        double sharedEnergy = 0;
        double totalEnergy = 0;
        for (int j = 0; j < numLatents(); j++) {
            double share = imageShare(j);
            if (Double.isNaN(share)) {
                continue;
            }
            double energy = stats.energyImage[j] / stats.imageRows + stats.energyText[j] / stats.textRows;
            totalEnergy += energy;
            if (share > config.imageOnlyThreshold()) {
                imageOnly++;
            } else if (share < config.textOnlyThreshold()) {
                textOnly++;
            } else {
                shared++;
                sharedEnergy += energy;
            }
        }
        ObjectNode c = Json.object();
        c.put("image_only", imageOnly);
        c.put("text_only", textOnly);
        c.put("shared", shared);
        if (totalEnergy > 0) {
            c.put("shared_energy_share", sharedEnergy / totalEnergy);
        }
        ObjectNode t = c.putObject("thresholds");
        t.put("image_only", config.imageOnlyThreshold());
        t.put("text_only", config.textOnlyThreshold());
        if (bridge != null) {
            c.put("pairs", bridge.pairs());
            c.put("pair_sample_rate", bridge.sampleRate());
            c.put("bridge_min_pairs", config.bridgeMinPairs());
            ArrayNode tb = c.putArray("top_bridge");
            for (int j : topBridge()) {
                tb.addObject().put("id", j).put("lift", bridge.lift(j)).put("paired_cofire", bridge.paired(j));
            }
        }
        return c;
    }

    /**
     * Latents that co-fire on at least {@code bridgeMinPairs} matched pairs, by lift (then paired co-firing, then id),
     * at most {@code topBridge} of them; empty without paired rows.
     */
    public List<Integer> topBridge() {
        List<Integer> ids = new ArrayList<>();
        if (bridge == null) {
            return ids;
        }
        for (int j = 0; j < numLatents(); j++) {
            if (bridge.bothFired()[j] >= config.bridgeMinPairs() && !Double.isNaN(bridge.lift(j))) {
                ids.add(j);
            }
        }
        ids.sort(Comparator.<Integer>comparingDouble(j -> -bridge.lift(j)).thenComparingDouble(j -> -bridge.paired(j))
                .thenComparingInt(j -> j));
        return ids.size() > config.topBridge() ? new ArrayList<>(ids.subList(0, config.topBridge())) : ids;
    }
}
