package org.saeforge.train.dictionary;

import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.SerializableString;
import com.fasterxml.jackson.core.io.CharacterEscapes;
import java.io.IOException;
import java.io.InputStream;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.saeforge.core.io.FeatureDictionary.Example;
import org.saeforge.core.io.FeatureDictionary.Feature;
import org.saeforge.core.io.FeatureDictionary.Histogram;
import org.saeforge.core.io.FeatureDictionary.Neighbor;
import org.saeforge.core.io.Json;

/**
 * The self-contained feature browser {@code index.html}: one file with inline CSS, JavaScript and SVG and the data as
 * an inline JSON block, so it opens from the file system with no network. The data is streamed feature by feature;
 * rows that are top examples of several features are stored once in a row table (whose metadata is read again when
 * the table is written, so only row numbers are held meanwhile).
 *
 * <p>Data layout (read by the page's script): {@code {"summary": dictionary.json, "f": [feature...], "rows": [row...]}}
 * with a feature as the array {@code [id, density, mean, max, decoder_norm, image_share, image_rate, text_rate,
 * image_energy, text_energy, label, label_score, label_margin, label_method, paired, random, lift, histogram,
 * examples, nearest]} (null where absent), a histogram as {@code [below, counts..., above]}, an example as
 * {@code [row-table index, activation]}, a neighbour as {@code [id, cosine]}, and a row as {@code [row, source_id,
 * modality, position, label]}.
 */
final class DictionaryHtml {
    static final String TEMPLATE = "dictionary-browser.html";
    static final String PLACEHOLDER = "__SAEFORGE_DATA__";
    /** Labels in the page are cut to this many characters (features.jsonl keeps them whole). */
    static final int MAX_LABEL_CHARS = 300;

    private DictionaryHtml() {
    }

    static void write(DictionaryResult result, Path file) throws IOException {
        String template = template();
        int at = template.indexOf(PLACEHOLDER);
        try (Writer w = Files.newBufferedWriter(file, StandardCharsets.UTF_8)) {
            w.write(template, 0, at);
            writeData(result, w);
            w.write(template, at + PLACEHOLDER.length(), template.length() - at - PLACEHOLDER.length());
        }
    }

    static String template() throws IOException {
        try (InputStream in = DictionaryHtml.class.getResourceAsStream(TEMPLATE)) {
            if (in == null) {
                throw new IllegalStateException("resource " + TEMPLATE + " missing from the build");
            }
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
    }

    private static void writeData(DictionaryResult result, Writer w) throws IOException {
        int maxExamples = result.config().htmlExamples();
        Map<Long, Integer> rowRef = new HashMap<>();
        List<Long> rowTable = new ArrayList<>();
        try (JsonGenerator g = Json.mapper().getFactory().createGenerator(w)) {
            g.disable(JsonGenerator.Feature.AUTO_CLOSE_TARGET);
            g.setPrettyPrinter(null);
            g.setCharacterEscapes(new ScriptSafeEscapes());
            g.writeStartObject();
            g.writeFieldName("summary");
            g.writeTree(result.summaryJson());
            g.writeArrayFieldStart("f");
            for (int j = 0; j < result.numLatents(); j++) {
                Feature f = result.feature(j);
                g.writeStartArray();
                g.writeNumber(f.id());
                g.writeNumber(f.density());
                num(g, f.meanActivation());
                g.writeNumber((float) f.maxActivation());
                g.writeNumber((float) f.decoderNorm());
                if (f.modality() != null) {
                    num(g, f.modality().imageShare());
                    num(g, f.modality().imageRate());
                    num(g, f.modality().textRate());
                    num(g, f.modality().imageEnergy());
                    num(g, f.modality().textEnergy());
                } else {
                    nulls(g, 5);
                }
                if (f.label() != null) {
                    g.writeString(cut(f.label().text()));
                    num(g, f.label().score());
                    num(g, f.label().margin());
                    g.writeString(f.label().method());
                } else {
                    nulls(g, 4);
                }
                if (f.bridge() != null) {
                    num(g, f.bridge().pairedCofire());
                    num(g, f.bridge().randomCofire());
                    num(g, f.bridge().lift());
                } else {
                    nulls(g, 3);
                }
                Histogram h = f.activationHistogram();
                if (h == null) {
                    g.writeNull();
                } else {
                    g.writeStartArray();
                    g.writeNumber(h.below());
                    for (long c : h.counts()) {
                        g.writeNumber(c);
                    }
                    g.writeNumber(h.above());
                    g.writeEndArray();
                }
                g.writeStartArray();
                for (int e = 0; e < Math.min(maxExamples, f.topExamples().size()); e++) {
                    Example ex = f.topExamples().get(e);
                    Integer ref = rowRef.get(ex.row());
                    if (ref == null) {
                        ref = rowTable.size();
                        rowRef.put(ex.row(), ref);
                        rowTable.add(ex.row());
                    }
                    g.writeStartArray();
                    g.writeNumber(ref);
                    g.writeNumber((float) ex.activation());
                    g.writeEndArray();
                }
                g.writeEndArray();
                g.writeStartArray();
                for (Neighbor n : f.nearest()) {
                    g.writeStartArray();
                    g.writeNumber(n.id());
                    g.writeNumber((float) n.cosine());
                    g.writeEndArray();
                }
                g.writeEndArray();
                g.writeEndArray();
            }
            g.writeEndArray();
            g.writeArrayFieldStart("rows");
            for (long row : rowTable) {
                Example ex = result.example(row, 0);
                g.writeStartArray();
                g.writeNumber(ex.row());
                if (ex.sourceId() >= 0) {
                    g.writeNumber(ex.sourceId());
                } else {
                    g.writeNull();
                }
                if (ex.modality() != null) {
                    g.writeString(ex.modality().cliName());
                } else {
                    g.writeNull();
                }
                if (ex.position() >= 0) {
                    g.writeNumber(ex.position());
                } else {
                    g.writeNull();
                }
                if (ex.label() != null) {
                    g.writeString(cut(ex.label()));
                } else {
                    g.writeNull();
                }
                g.writeEndArray();
            }
            g.writeEndArray();
            g.writeEndObject();
        }
    }

    private static String cut(String s) {
        return s.length() <= MAX_LABEL_CHARS ? s : s.substring(0, MAX_LABEL_CHARS) + "…";
    }

    private static void num(JsonGenerator g, double v) throws IOException {
        if (Double.isFinite(v)) {
            g.writeNumber(v);
        } else {
            g.writeNull();
        }
    }

    private static void nulls(JsonGenerator g, int n) throws IOException {
        for (int i = 0; i < n; i++) {
            g.writeNull();
        }
    }

    /**
     * Escapes {@code <}, {@code >} and {@code &} as {@code \\u003C}-style sequences, so no string in the data (a caption
     * holding {@code </script>}) can end the inline script block or open a comment.
     */
    private static final class ScriptSafeEscapes extends CharacterEscapes {
        private static final long serialVersionUID = 1L;
        private final int[] codes;

        ScriptSafeEscapes() {
            codes = CharacterEscapes.standardAsciiEscapesForJSON();
            codes['<'] = CharacterEscapes.ESCAPE_STANDARD;
            codes['>'] = CharacterEscapes.ESCAPE_STANDARD;
            codes['&'] = CharacterEscapes.ESCAPE_STANDARD;
        }

        @Override
        public int[] getEscapeCodesForAscii() {
            return codes;
        }

        @Override
        public SerializableString getEscapeSequence(int ch) {
            return null;
        }
    }
}
