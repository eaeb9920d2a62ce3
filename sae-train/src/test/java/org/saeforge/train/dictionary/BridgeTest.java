package org.saeforge.train.dictionary;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.saeforge.core.data.Modality;
import org.saeforge.core.io.FeatureDictionary.Bridge;
import org.saeforge.core.kernels.cpu.ReferenceKernels;

/** Co-firing on matched image–text pairs: planted bridge latents must top the list, with exact paired/random rates. */
class BridgeTest {
    private static final int LATENTS = 6;

    /**
     * {@code sources} sources, each with one image row and two caption rows; all image rows first, then all captions
     * (so a source's halves are far apart in the file). Latent 0 fires on the image and on the second caption of every
     * fifth source (the planted bridge); 1 fires at random (p = 0.5 per row); 2 everywhere; 3 on images of the planted
     * sources and on captions of the others; 4 on images only; 5 on both halves of sources 1 and 2 only.
     */
    static MemorySource paired(int sources, long seed) {
        int rows = sources * 3;
        float[] x = new float[rows * LATENTS];
        java.util.Arrays.fill(x, -1f);
        Modality[] mod = new Modality[rows];
        long[] sid = new long[rows];
        SplittableRandom rnd = new SplittableRandom(seed);
        for (int s = 0; s < sources; s++) {
            boolean planted = s % 5 == 0;
            int img = s;
            mod[img] = Modality.IMAGE;
            sid[img] = s;
            set(x, img, 0, planted);
            set(x, img, 1, rnd.nextBoolean());
            set(x, img, 2, true);
            set(x, img, 3, planted);
            set(x, img, 4, true);
            set(x, img, 5, s == 1 || s == 2);
            for (int c = 0; c < 2; c++) {
                int txt = sources + 2 * s + c;
                mod[txt] = Modality.TEXT;
                sid[txt] = s;
                set(x, txt, 0, planted && c == 1);
                set(x, txt, 1, rnd.nextBoolean());
                set(x, txt, 2, true);
                set(x, txt, 3, !planted);
                set(x, txt, 5, (s == 1 || s == 2) && c == 0);
            }
        }
        return new MemorySource(x, LATENTS, new MemorySource.Meta(mod, sid, null, null));
    }

    private static void set(float[] x, int row, int latent, boolean fires) {
        x[row * LATENTS + latent] = fires ? 1f : -1f;
    }

    private static DictionaryResult build(MemorySource s, DictionaryConfig config) {
        try (ReferenceKernels k = new ReferenceKernels()) {
            return new DictionaryBuilder(config, k, null).build(Planted.identityRelu(LATENTS), s, s.metadata(), null);
        }
    }

    @Test
    void plantedBridgeTopsTheListWithExactRates() {
        int sources = 200;
        MemorySource s = paired(sources, 1);
        DictionaryResult d = build(s, DictionaryConfig.defaults().withBatchSize(100));
        List<Integer> top = d.topBridge();
        assertEquals(0, top.get(0), "bridge ranking " + top);
        assertFalse(top.contains(5), "two co-fired pairs are below the minimum support: " + top);
        assertFalse(top.contains(4), "an image-only latent has no lift: " + top);

        double pairs = sources;
        Bridge b0 = d.feature(0).bridge();
        assertEquals(40 / pairs, b0.pairedCofire(), 1e-15);
        assertEquals((40.0 * 40 - 40) / (pairs * (pairs - 1)), b0.randomCofire(), 1e-15);
        assertEquals(b0.pairedCofire() / b0.randomCofire(), b0.lift(), 1e-12);
        assertTrue(b0.lift() > 4, "lift " + b0.lift());

        Bridge b2 = d.feature(2).bridge();
        assertEquals(1.0, b2.pairedCofire(), 0);
        assertEquals(1.0, b2.lift(), 1e-12);
        assertEquals(0.0, d.feature(3).bridge().pairedCofire(), 0);
        assertEquals(0.0, d.feature(3).bridge().lift(), 0);
        assertTrue(Double.isNaN(d.feature(4).bridge().lift()));
        assertEquals(199.0, d.feature(5).bridge().lift(), 1e-9, "huge lift on two pairs, excluded by --bridge-min-pairs only");

        for (int j = 0; j < LATENTS; j++) {
            assertEquals(bruteRandomCofire(s, sources, j), d.feature(j).bridge().randomCofire(), 1e-12, "random co-firing of latent " + j);
        }
        JsonNode xm = d.summaryJson().get("cross_modal");
        assertEquals(sources, xm.get("pairs").asLong());
        assertEquals(1.0, xm.get("pair_sample_rate").asDouble());
        assertEquals(0, xm.get("top_bridge").get(0).get("id").asInt());
        assertEquals(b0.lift(), xm.get("top_bridge").get(0).get("lift").asDouble(), 1e-12);
        assertEquals(0.2, xm.get("top_bridge").get(0).get("paired_cofire").asDouble(), 1e-15);
    }

    /** Co-firing averaged over every mismatched pair (image side of s, text side of t, s != t), by enumeration. */
    private static double bruteRandomCofire(MemorySource s, int sources, int j) {
        float[] x = ModalityScoresTest.readAll(s);
        boolean[] img = new boolean[sources];
        boolean[] txt = new boolean[sources];
        for (int src = 0; src < sources; src++) {
            img[src] = x[src * LATENTS + j] > 0;
            for (int c = 0; c < 2; c++) {
                txt[src] |= x[(sources + 2 * src + c) * LATENTS + j] > 0;
            }
        }
        long both = 0;
        for (int a = 0; a < sources; a++) {
            for (int b = 0; b < sources; b++) {
                if (a != b && img[a] && txt[b]) {
                    both++;
                }
            }
        }
        return (double) both / ((double) sources * (sources - 1));
    }

    @Test
    void memoryBudgetSamplesSourcesAndKeepsTheRanking() {
        int sources = 20_000;
        MemorySource s = paired(sources, 2);
        DictionaryResult d = build(s, DictionaryConfig.defaults().withBatchSize(4096).withBridge(1L << 20, 5, 10));
        JsonNode xm = d.summaryJson().get("cross_modal");
        double rate = xm.get("pair_sample_rate").asDouble();
        long pairs = xm.get("pairs").asLong();
        assertTrue(rate < 1, "a 1 MiB budget cannot hold 20,000 sources; rate " + rate);
        assertTrue(pairs < sources && pairs > sources * rate / 2, "sampled pairs " + pairs + " at rate " + rate);
        assertEquals(0, d.topBridge().get(0), "ranking " + d.topBridge());
        assertEquals(0.2, d.feature(0).bridge().pairedCofire(), 0.05, "paired co-firing of the planted latent on the sample");
    }

    @Test
    void noSourceIdsMeansNoBridge() {
        MemorySource p = paired(50, 3);
        MemorySource.Meta m = (MemorySource.Meta) p.metadata();
        MemorySource s = new MemorySource(ModalityScoresTest.readAll(p), LATENTS, new MemorySource.Meta(m.modality(), null, null, null));
        DictionaryResult d = build(s, DictionaryConfig.defaults());
        assertNull(d.feature(0).bridge());
        assertNull(d.summaryJson().get("cross_modal").get("top_bridge"));
        assertTrue(d.topBridge().isEmpty());
    }
}
