package org.saeforge.core.data;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.saeforge.core.FileFormatException;

/** Every reader reproduces the sums numpy/h5py/safetensors computed for the shared fixtures (expected.json). */
class FixtureReadersTest {

    static Stream<String> arrays() {
        List<String> keys = new ArrayList<>();
        DataFixtures.expected().fieldNames().forEachRemaining(k -> {
            if (DataFixtures.expected().get(k).has("sum")) {
                keys.add(k);
            }
        });
        return keys.stream();
    }

    static ActivationSource openKey(String key) {
        int colon = key.indexOf(':');
        Path file = DataFixtures.file(colon < 0 ? key : key.substring(0, colon));
        return ActivationSources.open(file, colon < 0 ? null : key.substring(colon + 1));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("arrays")
    void reproducesExpectedSums(String key) {
        JsonNode e = DataFixtures.expected().get(key);
        try (ActivationSource s = openKey(key)) {
            JsonNode shape = e.get("shape");
            int d = shape.get(shape.size() - 1).asInt();
            long rows = shape.size() == 2 ? shape.get(0).asLong() : shape.get(0).asLong() * shape.get(1).asLong();
            assertEquals(d, s.dIn());
            assertEquals(rows, s.numRows());
            float[] all = new float[(int) rows * d];
            // odd-sized reads cross chunk and segment boundaries
            for (int first = 0; first < rows; first += 37) {
                int n = (int) Math.min(37, rows - first);
                s.readRows(first, n, all, first * d);
            }
            double sum = 0;
            for (float v : all) {
                sum += v;
            }
            assertEquals(e.get("sum").asDouble(), sum, 1e-9 * Math.max(1, Math.abs(sum)), "sum");
            assertEquals(e.get("row0_sum").asDouble(), rowSum(all, 0, d), 1e-9, "row0_sum");
            assertEquals(e.get("row_last_sum").asDouble(), rowSum(all, (int) rows - 1, d), 1e-9, "row_last_sum");
            JsonNode r100 = e.get("row100");
            float[] one = new float[d];
            s.readRows(100, 1, one, 0);
            for (int i = 0; i < d; i++) {
                assertEquals(r100.get(i).asDouble(), one[i], 0.0, "row100[" + i + "]");
                assertEquals(all[100 * d + i], one[i], 0.0);
            }
        }
    }

    private static double rowSum(float[] a, int row, int d) {
        double s = 0;
        for (int i = 0; i < d; i++) {
            s += a[row * d + i];
        }
        return s;
    }

    @Test
    void dtypesAreReported() {
        assertEquals("float16", openKey("acts.h5:/f16_chunked").dtype());
        assertEquals("float32", openKey("acts.h5:/chunked_gzip").dtype());
        assertEquals("float16", openKey("acts.safetensors:acts_f16").dtype());
        assertEquals("float16", openKey("acts_f16.npy").dtype());
    }

    @Test
    void npzDefaultsToItsOnlyFloatMember() {
        try (ActivationSource s = ActivationSources.open(DataFixtures.file("acts.npz"))) {
            assertEquals(257, s.numRows());
            assertTrue(s.path().toString().endsWith("acts.npz:acts"), s.path().toString());
        }
    }

    @Test
    void ambiguousDefaultsAskForDataset() {
        FileFormatException h5 = assertThrows(FileFormatException.class, () -> ActivationSources.open(DataFixtures.file("acts.h5")));
        assertTrue(h5.getMessage().contains("--dataset") && h5.getMessage().contains("/chunked_gzip")
                && h5.getMessage().contains("/layers/vision/patches"), h5.getMessage());
        FileFormatException st = assertThrows(FileFormatException.class,
                () -> ActivationSources.open(DataFixtures.file("acts.safetensors")));
        assertTrue(st.getMessage().contains("--dataset") && st.getMessage().contains("acts_f16"), st.getMessage());
    }

    @Test
    void missingDatasetsAreNamed() {
        FileFormatException e = assertThrows(FileFormatException.class,
                () -> ActivationSources.open(DataFixtures.file("acts.h5"), "/nope"));
        assertTrue(e.getMessage().contains("no dataset named \"/nope\""), e.getMessage());
        FileFormatException z = assertThrows(FileFormatException.class,
                () -> ActivationSources.open(DataFixtures.file("acts.npz"), "other"));
        assertTrue(z.getMessage().contains("int64") || z.getMessage().contains("<i8"), z.getMessage());
        FileFormatException i = assertThrows(FileFormatException.class,
                () -> ActivationSources.open(DataFixtures.file("acts.h5"), "/source_id"));
        assertTrue(i.getMessage().contains("not supported"), i.getMessage());
    }
}
