package org.saeforge.core.data;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.saeforge.core.FileFormatException;
import org.saeforge.core.SaeException;

/** Every file in fixtures/bad/ fails with a one-line message naming the file and its specific problem. */
class BadInputTest {

    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiter = '|', value = {
            "truncated.npy|truncated",
            "not_npy.npy|not a .npy file",
            "int32.npy|<i4 is not supported",
            "fortran.npy|Fortran-order",
            "one_dim.npy|expected a 2-D",
            "truncated.h5|truncated",
            "no_float_dataset.h5|has no 2-D or 3-D float32/float16 dataset",
            "truncated.safetensors|truncated",
            "huge_header.safetensors|corrupt safetensors header length",
    })
    void failsClearly(String file, String problem) {
        FileFormatException e = assertThrows(FileFormatException.class, () -> ActivationSources.open(DataFixtures.file("bad/" + file)));
        String m = e.getMessage();
        assertTrue(m.contains(file), m);
        assertTrue(m.contains(problem), m);
        assertEquals(-1, m.indexOf('\n'), m);
    }

    @Test
    void widthMismatchNamesBothFilesAndWidths() {
        String a = DataFixtures.file("acts_f32.npy").toString();
        String b = DataFixtures.file("bad/width_47.npy").toString();
        SaeException e = assertThrows(SaeException.class, () -> ActivationSources.open(new ActivationSources.Spec(List.of(a, b), null, null)));
        assertTrue(e.getMessage().contains("acts_f32.npy") && e.getMessage().contains("width_47.npy")
                && e.getMessage().contains("48") && e.getMessage().contains("47"), e.getMessage());
    }

    @Test
    void nanRowsOpenAndAreFoundRowByRow() {
        try (ActivationSource s = ActivationSources.open(DataFixtures.file("bad/nan_rows.npy"))) {
            float[] all = new float[(int) s.numRows() * s.dIn()];
            s.readRows(0, (int) s.numRows(), all, 0);
            List<Long> bad = new java.util.ArrayList<>();
            for (int r = 0; r < s.numRows(); r++) {
                if (!BadRowPolicy.finiteRow(all, r * s.dIn(), s.dIn())) {
                    bad.add((long) r);
                }
            }
            List<Long> want = new java.util.ArrayList<>();
            DataFixtures.expected().get("bad").get("nan_rows.npy").get("bad_rows").forEach(n -> want.add(n.asLong()));
            assertEquals(want, bad);
        }
    }
}
