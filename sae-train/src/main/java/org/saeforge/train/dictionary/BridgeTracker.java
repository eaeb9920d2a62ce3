package org.saeforge.train.dictionary;

import java.util.Arrays;
import java.util.HashMap;
import java.util.Iterator;
import java.util.Map;
import org.saeforge.core.data.Modality;

/**
 * Co-firing on matched image–text pairs. A pair is a source id with at least one image row and one text row (an image
 * and its captions); a latent fires on a side when it fires on any row of that side. For every latent j this counts
 * {@code A_j} (pairs whose image side fires j), {@code B_j} (text side) and {@code C_j} (both sides), over {@code S}
 * pairs. Then {@code paired_cofire = C/S}, and the co-firing over all mismatched image–text pairs (image side of one
 * source, text side of another) is exactly {@code random_cofire = (A·B − C) / (S·(S−1))}: no sampling noise.
 *
 * <p>Rows of one source may lie anywhere in the file (all images first, then all captions), so each source's two
 * latent sets are kept until the end. Memory is bounded by a budget: when it is exceeded, the tracker keeps only the
 * sources whose id hash has one more low zero bit (halving the sample, deterministically, both sides of a source
 * together), so the counts stay those of a uniform random sample of sources; {@link #sampleRate()} reports it.
 */
final class BridgeTracker {
    /** Rough heap bytes per tracked source besides its two id arrays (map node, boxed key, object headers). */
    private static final long SOURCE_OVERHEAD = 160;
    /** Sampling stops halving at 2^-40 of the sources (a budget that small holds no meaningful sample anyway). */
    private static final int MAX_LEVEL = 40;

    private final int numLatents;
    private final long budgetBytes;
    private final Map<Long, Sides> sources = new HashMap<>();
    private int level;
    private long bytes;

    /** Latent ids, appended, then sorted and de-duplicated whenever the buffer fills (grown only if that frees too little). */
    private static final class IdSet {
        int[] ids = new int[0];
        int len;

        void add(int id) {
            if (len == ids.length) {
                len = compact(ids, len);
                if (len * 2 >= ids.length) {
                    ids = Arrays.copyOf(ids, Math.max(8, ids.length * 2));
                }
            }
            ids[len++] = id;
        }

        /** Sorted distinct ids; returns their count. */
        int finish() {
            len = compact(ids, len);
            return len;
        }
    }

    /** The latents seen on the two sides of one source. */
    private static final class Sides {
        final IdSet image = new IdSet();
        final IdSet text = new IdSet();
        boolean hasImage;
        boolean hasText;

        long bytes() {
            return SOURCE_OVERHEAD + 4L * (image.ids.length + text.ids.length);
        }
    }

    BridgeTracker(int numLatents, long budgetBytes) {
        this.numLatents = numLatents;
        this.budgetBytes = budgetBytes;
    }

    /** Records the fired latents (entries with value &gt; 0 in {@code idx/val[from, to)}) of one row of a source. */
    void add(long sourceId, Modality modality, int[] idx, float[] val, int from, int to) {
        if (sourceId < 0 || modality == Modality.UNKNOWN || !sampled(sourceId)) {
            return;
        }
        Sides s = sources.get(sourceId);
        if (s == null) {
            s = new Sides();
            sources.put(sourceId, s);
            bytes += s.bytes();
        }
        long before = s.bytes();
        IdSet set;
        if (modality == Modality.IMAGE) {
            s.hasImage = true;
            set = s.image;
        } else {
            s.hasText = true;
            set = s.text;
        }
        for (int p = from; p < to; p++) {
            if (val[p] > 0f) {
                set.add(idx[p]);
            }
        }
        bytes += s.bytes() - before;
        while (bytes > budgetBytes && level < MAX_LEVEL) {
            halveSample();
        }
    }

    private boolean sampled(long sourceId) {
        return level == 0 || (mix(sourceId) & ((1L << level) - 1)) == 0;
    }

    private void halveSample() {
        level++;
        bytes = 0;
        for (Iterator<Map.Entry<Long, Sides>> it = sources.entrySet().iterator(); it.hasNext(); ) {
            Map.Entry<Long, Sides> e = it.next();
            if (sampled(e.getKey())) {
                bytes += e.getValue().bytes();
            } else {
                it.remove();
            }
        }
    }

    /** SplitMix64 finaliser: a well-mixed hash, so the kept sources do not depend on how ids were numbered. */
    private static long mix(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    /** Sorts and de-duplicates a[0, len); returns the new length. */
    private static int compact(int[] a, int len) {
        Arrays.sort(a, 0, len);
        int n = 0;
        for (int i = 0; i < len; i++) {
            if (n == 0 || a[n - 1] != a[i]) {
                a[n++] = a[i];
            }
        }
        return n;
    }

    /** Share of sources kept (1 unless the memory budget forced sampling). */
    double sampleRate() {
        return Math.scalb(1.0, -level);
    }

    /** The pair counts over the tracked sources. */
    Counts finish() {
        long[] a = new long[numLatents];
        long[] b = new long[numLatents];
        long[] c = new long[numLatents];
        long pairs = 0;
        for (Sides s : sources.values()) {
            if (!s.hasImage || !s.hasText) {
                continue;
            }
            pairs++;
            int ni = s.image.finish();
            int nt = s.text.finish();
            int[] im = s.image.ids;
            int[] tx = s.text.ids;
            for (int i = 0; i < ni; i++) {
                a[im[i]]++;
            }
            for (int i = 0; i < nt; i++) {
                b[tx[i]]++;
            }
            for (int i = 0, t = 0; i < ni && t < nt; ) {
                if (im[i] < tx[t]) {
                    i++;
                } else if (im[i] > tx[t]) {
                    t++;
                } else {
                    c[im[i]]++;
                    i++;
                    t++;
                }
            }
        }
        return new Counts(pairs, a, b, c, sampleRate());
    }

    /** Per-latent pair counts: {@code imageFired} = A, {@code textFired} = B, {@code bothFired} = C over {@code pairs} = S. */
    record Counts(long pairs, long[] imageFired, long[] textFired, long[] bothFired, double sampleRate) {
        double paired(int j) {
            return (double) bothFired[j] / pairs;
        }

        double random(int j) {
            return ((double) imageFired[j] * textFired[j] - bothFired[j]) / ((double) pairs * (pairs - 1));
        }

        /** paired / random, NaN when no mismatched pair co-fires. */
        double lift(int j) {
            double r = random(j);
            return r > 0 ? paired(j) / r : Double.NaN;
        }
    }
}
