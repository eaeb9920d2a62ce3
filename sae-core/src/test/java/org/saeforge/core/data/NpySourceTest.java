package org.saeforge.core.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.saeforge.core.FileFormatException;
import org.saeforge.core.io.Json;
import org.saeforge.core.tensor.FloatMatrix;
import org.saeforge.core.testing.Fixtures;

/** The .npy reader against numpy-written fixtures and every malformed file in fixtures/bad. */
class NpySourceTest {

    static void checkAgainstExpected(String file, String key) {
        JsonNode exp = Json.read(Fixtures.file("expected.json")).get(key);
        try (ActivationSource s = ActivationSources.open(Fixtures.file(file))) {
            long rows = 1;
            JsonNode shape = exp.get("shape");
            for (int i = 0; i < shape.size() - 1; i++) {
                rows *= shape.get(i).asLong();
            }
            int d = shape.get(shape.size() - 1).asInt();
            assertEquals(rows, s.numRows());
            assertEquals(d, s.dIn());
            float[] all = new float[(int) rows * d];
            s.readRows(0, (int) rows, all, 0);
            double sum = 0;
            for (float v : all) {
                sum += v;
            }
            assertEquals(exp.get("sum").asDouble(), sum, 1e-6 * Math.max(1, Math.abs(sum)), file + " sum");
            double row0 = 0;
            double last = 0;
            for (int i = 0; i < d; i++) {
                row0 += all[i];
                last += all[(int) (rows - 1) * d + i];
            }
            assertEquals(exp.get("row0_sum").asDouble(), row0, 1e-9 * Math.max(1, Math.abs(row0)) + 1e-6);
            assertEquals(exp.get("row_last_sum").asDouble(), last, 1e-6);
            float[] row100 = new float[d];
            s.readRows(100, 1, row100, 0);
            for (int i = 0; i < d; i++) {
                assertEquals((float) exp.get("row100").get(i).asDouble(), row100[i], 0f, file + " row100[" + i + "]");
            }
        }
    }

    @Test
    void float32TwoDimensional() {
        checkAgainstExpected("acts_f32.npy", "acts_f32.npy");
        try (ActivationSource s = ActivationSources.open(Fixtures.file("acts_f32.npy"))) {
            assertEquals("float32", s.dtype());
        }
    }

    @Test
    void float16() {
        checkAgainstExpected("acts_f16.npy", "acts_f16.npy");
    }

    @Test
    void threeDimensionalIsFlattenedToRows() {
        checkAgainstExpected("patches_3d.npy", "patches_3d.npy");
    }

    @ParameterizedTest
    @CsvSource({
        "bad/truncated.npy, truncated",
        "bad/not_npy.npy, not a .npy file",
        "bad/int32.npy, dtype <i4",
        "bad/fortran.npy, Fortran-order",
        "bad/one_dim.npy, expected a 2-D",
    })
    void badFilesGiveOneLineErrorsNamingFileAndProblem(String file, String problem) {
        Path p = Fixtures.file(file);
        FileFormatException e = assertThrows(FileFormatException.class, () -> ActivationSources.open(p).close());
        assertTrue(e.getMessage().startsWith(p.toString() + ": "), e.getMessage());
        assertTrue(e.getMessage().contains(problem), e.getMessage());
        assertFalse(e.getMessage().contains("\n"), e.getMessage());
    }

    @Test
    void missingFileAndUnknownExtension(@TempDir Path tmp) {
        FileFormatException missing = assertThrows(FileFormatException.class, () -> ActivationSources.open(tmp.resolve("nope.npy")));
        assertTrue(missing.getMessage().contains("file not found"), missing.getMessage());
        FileFormatException ext = assertThrows(FileFormatException.class, () -> ActivationSources.open(Fixtures.file("README.md")));
        assertTrue(ext.getMessage().contains("unsupported activation file type"), ext.getMessage());
    }

    @Test
    void writerRoundTripsAndStreamsAtomically(@TempDir Path tmp) throws java.io.IOException {
        FloatMatrix m = FloatMatrix.random(37, 11, 3, 2f);
        Path p = tmp.resolve("m.npy");
        NpyWriter.write(p, m);
        assertArrayEquals(m.data(), ActivationSources.readMatrix(p).data());
        Path s = tmp.resolve("s.npy");
        try (NpyWriter.Stream w = NpyWriter.stream(s, 37, 11)) {
            w.append(m.data(), 0, 20);
            w.append(m.data(), 20 * 11, 17);
            w.commit();
        }
        assertArrayEquals(m.data(), ActivationSources.readMatrix(s).data());
        Path abandoned = tmp.resolve("abandoned.npy");
        try (NpyWriter.Stream w = NpyWriter.stream(abandoned, 37, 11)) {
            w.append(m.data(), 0, 5);
        }
        assertFalse(abandoned.toFile().exists(), "an unfinished stream leaves no file under the final name");
        try (var files = java.nio.file.Files.list(tmp)) {
            assertEquals(2, files.count(), "no temporary files left");
        }
    }
}
