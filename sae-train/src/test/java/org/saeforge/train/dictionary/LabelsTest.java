package org.saeforge.train.dictionary;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.saeforge.core.FileFormatException;
import org.saeforge.core.data.NpyWriter;
import org.saeforge.core.io.FeatureDictionary.Label;
import org.saeforge.core.kernels.cpu.ReferenceKernels;
import org.saeforge.core.model.SparseAutoencoder;
import org.saeforge.core.tensor.FloatMatrix;

/** Labels come from a vocabulary of text embeddings (nearest to the decoder direction) or from the examples' labels. */
class LabelsTest {
    private static final int D = 8;
    private static final List<String> NAMES = List.of("cat", "dog", "car", "tree", "sky", "boat");

    @TempDir
    Path tmp;

    /** Embeddings sharing a large common offset (a modality gap) plus distinct random parts. */
    private static FloatMatrix vocabulary() {
        FloatMatrix e = FloatMatrix.random(NAMES.size(), D, 31, 1f);
        for (int r = 0; r < e.rows(); r++) {
            for (int i = 0; i < D; i++) {
                e.set(r, i, e.get(r, i) + (i == 0 ? 20f : 5f));
            }
        }
        return e;
    }

    private Path[] writeVocab(FloatMatrix e, List<String> names) throws IOException {
        Path npy = tmp.resolve("vocab.npy");
        Path txt = tmp.resolve("vocab.txt");
        NpyWriter.write(npy, e);
        Files.write(txt, names);
        return new Path[] {npy, txt};
    }

    private static double cosine(float[] a, float[] b) {
        double dot = 0;
        double na = 0;
        double nb = 0;
        for (int i = 0; i < a.length; i++) {
            dot += (double) a[i] * b[i];
            na += (double) a[i] * a[i];
            nb += (double) b[i] * b[i];
        }
        return dot / Math.sqrt(na * nb);
    }

    @Test
    void decoderDirectionsAreLabelledByTheNearestCentredEmbedding() throws IOException {
        FloatMatrix e = vocabulary();
        Path[] files = writeVocab(e, NAMES);
        LabelVocabulary vocab = LabelVocabulary.load(files[0], files[1], D);
        FloatMatrix centred = LabelVocabulary.centre(e);
        for (int i = 0; i < D; i++) {
            double mean = 0;
            for (int r = 0; r < centred.rows(); r++) {
                mean += centred.get(r, i);
            }
            assertEquals(0, mean / centred.rows(), 1e-5, "column " + i + " mean after centring");
        }
        SparseAutoencoder sae = Planted.identityRelu(D);
        FloatMatrix noise = FloatMatrix.random(D, D, 32, 0.05f);
        for (int j = 0; j < NAMES.size(); j++) {
            for (int i = 0; i < D; i++) {
                sae.wDec().set(j, i, 3 * centred.get(j, i) + noise.get(j, i));
            }
        }
        for (int i = 0; i < D; i++) {
            sae.wDec().set(6, i, 0f);
        }
        Label[] labels;
        try (ReferenceKernels k = new ReferenceKernels()) {
            labels = vocab.label(sae, k);
        }
        for (int j = 0; j < NAMES.size(); j++) {
            double[] cos = new double[NAMES.size()];
            for (int v = 0; v < cos.length; v++) {
                cos[v] = cosine(sae.wDec().row(j), centred.row(v));
            }
            double[] sorted = cos.clone();
            java.util.Arrays.sort(sorted);
            Label l = labels[j];
            assertEquals(NAMES.get(j), l.text(), "latent " + j);
            assertEquals("embedding", l.method());
            assertEquals(cos[j], l.score(), 1e-5);
            assertEquals(sorted[sorted.length - 1] - sorted[sorted.length - 2], l.margin(), 1e-5);
            assertTrue(l.score() > 0.95 && l.margin() > 0, "latent " + j + ": " + l);
        }
        assertNull(labels[6], "a zero decoder row has no direction to label");
    }

    @Test
    void vocabularyFilesAreValidated() throws IOException {
        FloatMatrix e = vocabulary();
        Path[] files = writeVocab(e, NAMES.subList(0, 5));
        FileFormatException count = assertThrows(FileFormatException.class, () -> LabelVocabulary.load(files[0], files[1], D));
        assertTrue(count.getMessage().contains("5 names") && count.getMessage().contains("6 embeddings"), count.getMessage());

        Path[] ok = writeVocab(e, NAMES);
        FileFormatException width = assertThrows(FileFormatException.class, () -> LabelVocabulary.load(ok[0], ok[1], D + 1));
        assertTrue(width.getMessage().contains("width 8") && width.getMessage().contains("d_in 9"), width.getMessage());

        Path[] blank = writeVocab(e, List.of("cat", "dog", "", "tree", "sky", "boat"));
        FileFormatException empty = assertThrows(FileFormatException.class, () -> LabelVocabulary.load(blank[0], blank[1], D));
        assertTrue(empty.getMessage().contains("line 3"), empty.getMessage());

        FileFormatException missing = assertThrows(FileFormatException.class,
                () -> LabelVocabulary.load(ok[0], tmp.resolve("nope.txt"), D));
        assertTrue(missing.getMessage().contains("nope.txt") && missing.getMessage().contains("not found"), missing.getMessage());
    }

    @Test
    void withoutVocabularyTheMostFrequentExampleLabelIsUsed() {
        int rows = 40;
        float[] x = new float[rows * 2];
        String[] label = new String[rows];
        for (int r = 0; r < rows; r++) {
            x[r * 2] = r < 30 ? 100f - r : -1f;
            x[r * 2 + 1] = -1f;
            label[r] = r < 20 ? (r % 10 < 7 ? "cat" : "dog") : "bird";
        }
        MemorySource s = new MemorySource(x, 2, new MemorySource.Meta(null, null, null, label));
        try (ReferenceKernels k = new ReferenceKernels()) {
            DictionaryResult d = new DictionaryBuilder(DictionaryConfig.defaults().withTopN(20), k, null)
                    .build(Planted.identityRelu(2), s, s.metadata(), null);
            Label l = d.feature(0).label();
            assertEquals("cat", l.text());
            assertEquals(14 / 20.0, l.score(), 1e-12);
            assertEquals((14 - 6) / 20.0, l.margin(), 1e-12);
            assertEquals("top_examples", l.method());
            assertEquals("cat", d.feature(0).topExamples().get(0).label());
            assertNull(d.feature(1).label(), "a latent that never fires has no examples and no label");
            assertEquals("top_examples", d.summaryJson().get("labels").get("method").asText());
        }
    }
}
