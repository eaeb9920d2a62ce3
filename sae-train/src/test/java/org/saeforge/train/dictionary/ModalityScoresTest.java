package org.saeforge.train.dictionary;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.Test;
import org.saeforge.core.data.Modality;
import org.saeforge.core.io.FeatureDictionary.Feature;
import org.saeforge.core.kernels.cpu.ReferenceKernels;
import org.saeforge.core.model.SparseAutoencoder;

/** Modality scores are per-modality means, so an unbalanced image:text mix does not move them. */
class ModalityScoresTest {
    /** Image activation of the text-leaning latent 1, on 30% of image rows: E_img = 0.3 · 0.1 = 0.03 vs E_txt = 1. */
    private static final float LEAK = (float) Math.sqrt(0.1);

    /**
     * Rows in groups of {@code imagesPerText} image rows then one text row. Latent 0 fires 1 on every row (shared);
     * latent 1 fires 1 on text rows and {@link #LEAK} on 3 image rows in 10 (text-leaning); latent 2 fires 0.5 on image
     * rows only; latent 3 fires 2 on text rows only.
     */
    static MemorySource mixed(int textRows, int imagesPerText) {
        int rows = textRows * (imagesPerText + 1);
        float[] x = new float[rows * 4];
        Modality[] mod = new Modality[rows];
        int imageIndex = 0;
        for (int r = 0; r < rows; r++) {
            boolean text = r % (imagesPerText + 1) == imagesPerText;
            mod[r] = text ? Modality.TEXT : Modality.IMAGE;
            x[r * 4] = 1f;
            if (text) {
                x[r * 4 + 1] = 1f;
                x[r * 4 + 2] = -1f;
                x[r * 4 + 3] = 2f;
            } else {
                x[r * 4 + 1] = imageIndex++ % 10 < 3 ? LEAK : -1f;
                x[r * 4 + 2] = 0.5f;
                x[r * 4 + 3] = -1f;
            }
        }
        return new MemorySource(x, 4, new MemorySource.Meta(mod, null, null, null));
    }

    private static DictionaryResult build(MemorySource source) {
        SparseAutoencoder sae = Planted.identityRelu(4);
        try (ReferenceKernels k = new ReferenceKernels()) {
            return new DictionaryBuilder(DictionaryConfig.defaults().withBatchSize(333), k, null).build(sae, source, source.metadata(), null);
        }
    }

    @Test
    void textOnlyFeatureStaysTextOnlyWithNineImageRowsPerTextRow() {
        for (int imagesPerText : new int[] {1, 9}) {
            DictionaryResult d = build(mixed(200, imagesPerText));
            double leak = (double) LEAK * LEAK;
            double eImg1 = 0.3 * leak;

            Feature shared = d.feature(0);
            assertEquals(0.5, shared.modality().imageShare(), 1e-12, "shared latent, " + imagesPerText + ":1");
            assertEquals(1.0, shared.modality().imageRate(), 0);
            assertEquals(1.0, shared.modality().textRate(), 0);

            Feature leaning = d.feature(1);
            assertEquals(0.3, leaning.modality().imageRate(), 1e-12);
            assertEquals(1.0, leaning.modality().textRate(), 0);
            assertEquals(eImg1, leaning.modality().imageEnergy(), 1e-9);
            assertEquals(1.0, leaning.modality().textEnergy(), 1e-12);
            assertEquals(eImg1 / (eImg1 + 1), leaning.modality().imageShare(), 1e-9);
            assertTrue(leaning.modality().imageShare() < 0.05, "text-leaning latent must be text-only at " + imagesPerText + ":1");

            Feature imageOnly = d.feature(2);
            assertEquals(1.0, imageOnly.modality().imageShare(), 0);
            assertEquals(0.0, imageOnly.modality().textShare(), 0);
            assertEquals(0.25, imageOnly.modality().imageEnergy(), 1e-12);

            Feature textOnly = d.feature(3);
            assertEquals(0.0, textOnly.modality().imageShare(), 0);
            assertEquals(1.0, textOnly.modality().textShare(), 0);
            assertEquals(4.0, textOnly.modality().textEnergy(), 1e-12);

            ObjectNode xm = (ObjectNode) d.summaryJson().get("cross_modal");
            assertEquals(1, xm.get("image_only").asInt(), xm.toString());
            assertEquals(2, xm.get("text_only").asInt(), xm.toString());
            assertEquals(1, xm.get("shared").asInt(), xm.toString());
            assertEquals(2.0 / (2.0 + (eImg1 + 1) + 0.25 + 4.0), xm.get("shared_energy_share").asDouble(), 1e-9);
            assertEquals(0.95, xm.get("thresholds").get("image_only").asDouble());
            assertEquals(0.05, xm.get("thresholds").get("text_only").asDouble());
            ObjectNode byMod = (ObjectNode) d.summaryJson().get("data").get("rows_by_modality");
            assertEquals(200L * imagesPerText, byMod.get("image").asLong());
            assertEquals(200L, byMod.get("text").asLong());
        }
    }

    /** The same data scored by pooled row means would call latent 1 shared at 9:1; the per-modality means do not. */
    @Test
    void pooledEnergyWouldMisclassifyTheLeaningLatent() {
        double eImg = 0.3 * LEAK * LEAK;
        double pooled = 9 * eImg / (9 * eImg + 1);
        assertTrue(pooled > 0.05, "the planted data must be a real test of balance: pooled share " + pooled);
        assertTrue(build(mixed(200, 9)).feature(1).modality().imageShare() < 0.05);
    }

    @Test
    void thresholdsAreFlags() {
        MemorySource s = mixed(100, 9);
        try (ReferenceKernels k = new ReferenceKernels()) {
            DictionaryResult d = new DictionaryBuilder(DictionaryConfig.defaults().withThresholds(0.99, 0.01), k, null)
                    .build(Planted.identityRelu(4), s, s.metadata(), null);
            ObjectNode xm = (ObjectNode) d.summaryJson().get("cross_modal");
            assertEquals(1, xm.get("text_only").asInt(), "latent 1 (share 0.029) is shared under a 0.01 threshold");
            assertEquals(2, xm.get("shared").asInt());
            assertEquals(0.99, xm.get("thresholds").get("image_only").asDouble());
        }
    }

    @Test
    void withoutModalityMetadataScoresAreAbsent() {
        MemorySource m = mixed(50, 1);
        MemorySource bare = new MemorySource(readAll(m), 4, null);
        try (ReferenceKernels k = new ReferenceKernels()) {
            DictionaryResult d = new DictionaryBuilder(DictionaryConfig.defaults(), k, null).build(Planted.identityRelu(4), bare, null, null);
            assertNull(d.feature(0).modality());
            assertNull(d.feature(0).bridge());
            assertNull(d.summaryJson().get("cross_modal"));
            assertNull(d.summaryJson().get("data").get("rows_by_modality"));
            assertEquals(1.0, d.feature(0).density(), 0);
        }
    }

    static float[] readAll(MemorySource s) {
        float[] x = new float[(int) s.numRows() * s.dIn()];
        s.readRows(0, (int) s.numRows(), x, 0);
        return x;
    }
}
