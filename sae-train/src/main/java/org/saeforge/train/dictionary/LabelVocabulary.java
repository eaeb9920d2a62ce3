package org.saeforge.train.dictionary;

import java.io.IOException;
import java.nio.charset.MalformedInputException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.List;
import org.saeforge.core.FileFormatException;
import org.saeforge.core.data.ActivationSources;
import org.saeforge.core.data.BadRowPolicy;
import org.saeforge.core.io.FeatureDictionary;
import org.saeforge.core.kernels.Kernels;
import org.saeforge.core.model.SparseAutoencoder;
import org.saeforge.core.tensor.FloatMatrix;

/**
 * Text embeddings with names ({@code --label-embeddings vocab.npy --label-names vocab.txt}) that label each latent by
 * the names whose embeddings are nearest (by cosine) to its decoder direction.
 *
 * <p>The vocabulary is mean-centred first, as SpLiCE does: text and image embeddings of CLIP-like models sit in two
 * cones around different means (the modality gap), and the shared mean direction would otherwise dominate every
 * cosine. Such labels are meaningful only when the SAE was trained in the same joint embedding space the vocabulary
 * comes from (e.g. CLIP's output embeddings), not for inner-layer activations.
 */
public final class LabelVocabulary {
    public static final String METHOD = "embedding";

    private final Path embeddingsFile;
    private final FloatMatrix centred;
    private final List<String> names;

    private LabelVocabulary(Path embeddingsFile, FloatMatrix centred, List<String> names) {
        this.embeddingsFile = embeddingsFile;
        this.centred = centred;
        this.names = names;
    }

    /**
     * Loads a {@code [V, dIn]} float .npy of embeddings and a UTF-8 text file of V names, one per line, and checks that
     * both agree with each other and with the SAE's width.
     */
    public static LabelVocabulary load(Path embeddings, Path namesFile, int dIn) {
        FloatMatrix e = ActivationSources.readMatrix(embeddings);
        if (e.cols() != dIn) {
            throw new FileFormatException(embeddings, "embeddings have width " + e.cols() + " but the SAE expects d_in " + dIn);
        }
        if (e.rows() < 2) {
            throw new FileFormatException(embeddings, "holds " + e.rows() + " embeddings; mean-centring needs at least 2");
        }
        for (int r = 0; r < e.rows(); r++) {
            if (!BadRowPolicy.finiteRow(e.data(), r * dIn, dIn)) {
                throw new FileFormatException(embeddings, "row " + r + " holds NaN or infinity");
            }
        }
        List<String> names;
        try {
            names = Files.readAllLines(namesFile, StandardCharsets.UTF_8);
        } catch (NoSuchFileException ex) {
            throw new FileFormatException(namesFile, "file not found");
        } catch (MalformedInputException ex) {
            throw new FileFormatException(namesFile, "not UTF-8 text");
        } catch (IOException ex) {
            throw new FileFormatException(namesFile, "cannot read (" + ex.getMessage() + ")");
        }
        if (names.size() != e.rows()) {
            throw new FileFormatException(namesFile, "has " + names.size() + " names but " + embeddings.getFileName() + " has "
                    + e.rows() + " embeddings (one name per line expected)");
        }
        for (int i = 0; i < names.size(); i++) {
            if (names.get(i).isBlank()) {
                throw new FileFormatException(namesFile, "line " + (i + 1) + " is empty (every embedding needs a name)");
            }
        }
        return new LabelVocabulary(embeddings, centre(e), List.copyOf(names));
    }

    /** Subtracts the column mean from every row (in double, then back to float). */
    static FloatMatrix centre(FloatMatrix e) {
        int v = e.rows();
        int d = e.cols();
        double[] mean = new double[d];
        float[] x = e.data();
        for (int r = 0; r < v; r++) {
            for (int i = 0; i < d; i++) {
                mean[i] += x[r * d + i];
            }
        }
        FloatMatrix out = new FloatMatrix(v, d);
        for (int r = 0; r < v; r++) {
            for (int i = 0; i < d; i++) {
                out.data()[r * d + i] = (float) (x[r * d + i] - mean[i] / v);
            }
        }
        return out;
    }

    public Path embeddingsFile() {
        return embeddingsFile;
    }

    public int size() {
        return names.size();
    }

    /**
     * One label per latent: the nearest name to its decoder direction, its cosine as score and the top-1 minus top-2
     * cosine as margin; null for a latent with a zero decoder row.
     */
    public FeatureDictionary.Label[] label(SparseAutoencoder sae, Kernels kernels) {
        TopCosine top = TopCosine.compute(sae.wDec(), centred, Math.min(2, names.size()), false, kernels);
        FeatureDictionary.Label[] labels = new FeatureDictionary.Label[sae.numLatents()];
        for (int j = 0; j < labels.length; j++) {
            if (top.count(j) == 0) {
                continue;
            }
            double c1 = top.cosine(j, 0);
            double margin = top.count(j) > 1 ? c1 - top.cosine(j, 1) : Double.NaN;
            labels[j] = new FeatureDictionary.Label(names.get(top.id(j, 0)), c1, margin, METHOD);
        }
        return labels;
    }
}
