package org.saeforge.train.dictionary;

import org.saeforge.core.data.Modality;
import org.saeforge.core.kernels.cpu.ReferenceKernels;
import org.saeforge.core.model.SaeConfig;
import org.saeforge.core.model.SparseAutoencoder;
import org.saeforge.core.tensor.FloatMatrix;

/**
 * A small dictionary with every kind of metadata: 64 latents of a random TopK SAE over 2,000 rows, pairs of an image
 * row and a caption row per source, positions, and labels that hold markup ({@code </script>}) and non-ASCII text.
 */
final class SampleDictionary {
    static final int D = 16;
    static final int N = 64;
    static final int ROWS = 2000;

    private SampleDictionary() {
    }

    static SparseAutoencoder sae() {
        return new SparseAutoencoder(SaeConfig.topK(D, N, 6), FloatMatrix.random(N, D, 41, 1f), FloatMatrix.random(1, N, 42, 0.1f).data(),
                FloatMatrix.random(N, D, 43, 1f), new float[D], null);
    }

    static MemorySource source() {
        float[] x = FloatMatrix.random(ROWS, D, 44, 1f).data();
        Modality[] mod = new Modality[ROWS];
        long[] sid = new long[ROWS];
        long[] pos = new long[ROWS];
        String[] label = new String[ROWS];
        for (int r = 0; r < ROWS; r++) {
            long s = r / 2;
            boolean image = r % 2 == 0;
            mod[r] = image ? Modality.IMAGE : Modality.TEXT;
            sid[r] = s;
            pos[r] = image ? 0 : 3;
            label[r] = image ? "photo of thing " + (s % 7) : "caption: thing " + (s % 7) + " </script><!-- \u00e9t\u00e9 \u2028";
        }
        return new MemorySource(x, D, new MemorySource.Meta(mod, sid, pos, label));
    }

    static DictionaryResult build(MemorySource source) {
        try (ReferenceKernels k = new ReferenceKernels()) {
            return new DictionaryBuilder(DictionaryConfig.defaults().withBatchSize(512), k, null).build(sae(), source, source.metadata(), null);
        }
    }
}
