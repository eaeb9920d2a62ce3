package org.saeforge.core.data;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.saeforge.core.FileFormatException;
import org.saeforge.core.SaeException;

/** Row metadata from HDF5 siblings, CSV sidecars and shard columns agree row by row, and the modality filter uses it. */
class MetadataTest {

    @Test
    void hdf5SiblingsMatchExpectedLabels() {
        try (ActivationSource s = ActivationSources.open(DataFixtures.file("acts.h5"), "/activations")) {
            RowMetadata m = s.metadata();
            assertNotNull(m);
            assertTrue(m.hasModality() && m.hasSourceId() && m.hasPosition() && m.hasLabel());
            assertEquals(DataFixtures.expected().get("acts.h5:/label").get("row0").asText(), m.label(0));
            assertEquals(DataFixtures.expected().get("acts.h5:/label").get("row256").asText(), m.label(256));
            assertEquals(Modality.TEXT, m.modality(0));
            assertEquals(Modality.IMAGE, m.modality(256));
        }
    }

    @Test
    void csvSidecarAgreesWithHdf5Siblings() {
        try (ActivationSource h5 = ActivationSources.open(DataFixtures.file("acts.h5"), "/activations");
             ActivationSource npy = ActivationSources.open(DataFixtures.file("acts_f32.npy"))) {
            RowMetadata a = h5.metadata();
            RowMetadata b = npy.metadata();
            assertNotNull(b, "acts_f32.meta.csv is the sidecar of acts_f32.npy");
            int images = 0;
            for (long r = 0; r < 257; r++) {
                assertEquals(a.modality(r), b.modality(r), "modality row " + r);
                assertEquals(a.sourceId(r), b.sourceId(r), "source_id row " + r);
                assertEquals(a.position(r), b.position(r), "position row " + r);
                assertEquals(a.label(r), b.label(r), "label row " + r);
                images += a.modality(r) == Modality.IMAGE ? 1 : 0;
            }
            assertTrue(images > 0 && images < 257);
        }
    }

    @Test
    void otherGroupsHaveNoMetadata() {
        try (ActivationSource s = ActivationSources.open(DataFixtures.file("acts.h5"), "layers/vision/patches")) {
            assertNull(s.metadata());
            assertEquals(170, s.numRows());
        }
    }

    @Test
    void modalityFilterKeepsOnlyThatModality() {
        try (ActivationSource all = ActivationSources.open(DataFixtures.file("acts.h5"), "/activations");
             ActivationSource text = ActivationSources.open(new ActivationSources.Spec(
                     List.of(DataFixtures.file("acts.h5").toString()), "/activations", "text"))) {
            RowMetadata m = all.metadata();
            int d = all.dIn();
            float[] row = new float[d];
            float[] got = new float[d];
            long t = 0;
            for (long r = 0; r < all.numRows(); r++) {
                if (m.modality(r) != Modality.TEXT) {
                    continue;
                }
                all.readRows(r, 1, row, 0);
                text.readRows(t, 1, got, 0);
                assertEquals(java.util.Arrays.toString(row), java.util.Arrays.toString(got), "text row " + t);
                assertEquals(m.label(r), text.metadata().label(t));
                assertEquals(Modality.TEXT, text.metadata().modality(t));
                t++;
            }
            assertEquals(t, text.numRows());
            // a multi-row read across runs equals the row-by-row reads
            float[] bulk = new float[(int) text.numRows() * d];
            text.readRows(0, (int) text.numRows(), bulk, 0);
            text.readRows(text.numRows() - 1, 1, got, 0);
            assertEquals(got[3], bulk[(int) (text.numRows() - 1) * d + 3]);
        }
    }

    @Test
    void modalityFilterNeedsMetadata() {
        SaeException e = assertThrows(SaeException.class, () -> ActivationSources.open(new ActivationSources.Spec(
                List.of(DataFixtures.file("patches_3d.npy").toString()), null, "image")));
        assertTrue(e.getMessage().contains("patches_3d.npy") && e.getMessage().contains("modality"), e.getMessage());
        assertThrows(SaeException.class, () -> ModalityFilter.apply(null, "audio"));
    }

    @Test
    void csvQuotingAndErrors(@TempDir Path dir) throws IOException {
        Path npy = dir.resolve("x.npy");
        NpyWriter.write(npy, new float[] {1, 2, 3, 4, 5, 6}, 3, 2);
        Files.writeString(dir.resolve("x.meta.csv"), "label,modality,extra\n\"a, \"\"b\"\"\nc\",image,1\n,text,2\nplain,1,3\n",
                StandardCharsets.UTF_8);
        try (ActivationSource s = ActivationSources.open(npy)) {
            RowMetadata m = s.metadata();
            assertEquals("a, \"b\"\nc", m.label(0));
            assertEquals("", m.label(1));
            assertEquals(Modality.TEXT, m.modality(2));
            assertFalse(m.hasSourceId());
            assertEquals(-1, m.sourceId(0));
        }
        Files.writeString(dir.resolve("x.meta.csv"), "label\nonly one\n", StandardCharsets.UTF_8);
        FileFormatException e = assertThrows(FileFormatException.class, () -> ActivationSources.open(npy));
        assertTrue(e.getMessage().contains("x.meta.csv") && e.getMessage().contains("has 1 rows but its activation file has 3"), e.getMessage());
        Files.writeString(dir.resolve("x.meta.csv"), "modality\nimage\nsound\ntext\n", StandardCharsets.UTF_8);
        e = assertThrows(FileFormatException.class, () -> ActivationSources.open(npy));
        assertTrue(e.getMessage().contains("line 3") && e.getMessage().contains("sound"), e.getMessage());
    }
}
