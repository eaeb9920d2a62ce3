package org.saeforge.cli;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.PrintStream;
import java.util.Arrays;
import java.util.concurrent.Callable;
import org.saeforge.core.data.ActivationSource;
import org.saeforge.core.data.ConcatSource;
import org.saeforge.core.data.DataStats;
import org.saeforge.core.data.RowMetadata;
import org.saeforge.core.io.Json;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code sae inspect-data}: what is in a set of activation files, and what in it could hurt training. */
@Command(name = "inspect-data", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Summarise activations: shape, dtype, rows per modality, mean row norm, rows above 10x and 100x the median norm",
                "(outliers such as ViT high-norm tokens), NaN/Inf rows and per-dimension mean/std. Text, or one JSON object with --json."})
final class InspectDataCommand implements Callable<Integer> {
    private static final int TOP = 5;

    private final Io io;

    InspectDataCommand(Io io) {
        this.io = io;
    }

    @Mixin
    DataOptions dataOptions;

    @Option(names = "--json", description = "Print one JSON object instead of text.")
    boolean json;

    @Option(names = "--max-rows", paramLabel = "N", converter = Counts.class, defaultValue = "0",
            description = "Scan only the first N rows (default: all).")
    long maxRows;

    @Override
    public Integer call() {
        try (ActivationSource source = dataOptions.open()) {
            DataStats st;
            try (RowProgress progress = new RowProgress(io.err(), "inspect", maxRows > 0 ? Math.min(maxRows, source.numRows()) : source.numRows())) {
                st = DataStats.compute(source, maxRows, progress::onRows);
            }
            ObjectNode o = toJson(source, st);
            if (json) {
                io.out().println(Json.compact(o));
            } else {
                printText(io.out(), source, st);
            }
        }
        return 0;
    }

    private ObjectNode toJson(ActivationSource source, DataStats st) {
        ObjectNode o = Json.object();
        ArrayNode inputs = o.putArray("inputs");
        if (source instanceof ConcatSource c) {
            for (ActivationSource p : c.parts()) {
                inputs.addObject().put("path", p.path().toString()).put("rows", p.numRows()).put("dtype", p.dtype());
            }
        } else {
            inputs.addObject().put("path", source.path().toString()).put("rows", source.numRows()).put("dtype", source.dtype());
        }
        o.put("rows", st.rows);
        o.put("d_in", source.dIn());
        o.put("dtype", source.dtype());
        o.put("rows_scanned", st.rowsScanned);
        ObjectNode mod = o.putObject("rows_by_modality");
        mod.put("image", st.imageRows);
        mod.put("text", st.textRows);
        mod.put("unknown", st.unknownModalityRows);
        ArrayNode cols = o.putArray("metadata");
        RowMetadata m = source.metadata();
        if (m != null) {
            if (m.hasModality()) {
                cols.add("modality");
            }
            if (m.hasSourceId()) {
                cols.add("source_id");
            }
            if (m.hasPosition()) {
                cols.add("position");
            }
            if (m.hasLabel()) {
                cols.add("label");
            }
        }
        o.put("mean_norm", st.meanNorm);
        o.put("median_norm", st.sample.medianNorm());
        o.put("median_norm_sample_rows", st.sample.rows());
        o.put("rows_above_10x_median", st.above10x);
        o.put("rows_above_100x_median", st.above100x);
        o.put("bad_rows", st.badRows);
        ArrayNode firstBad = o.putArray("first_bad_rows");
        st.firstBadRows.forEach(firstBad::add);
        o.put("min", st.min);
        o.put("max", st.max);
        ObjectNode dims = o.putObject("dims");
        double[] absMean = Arrays.stream(st.dimMean).map(Math::abs).toArray();
        double[] sortedStd = st.dimStd.clone();
        Arrays.sort(sortedStd);
        dims.put("mean_of_means", Arrays.stream(st.dimMean).average().orElse(Double.NaN));
        dims.put("min_mean", Arrays.stream(st.dimMean).min().orElse(Double.NaN));
        dims.put("max_mean", Arrays.stream(st.dimMean).max().orElse(Double.NaN));
        dims.put("min_std", sortedStd[0]);
        dims.put("median_std", sortedStd[sortedStd.length / 2]);
        dims.put("max_std", sortedStd[sortedStd.length - 1]);
        ArrayNode topMean = dims.putArray("top_abs_mean");
        for (int i : DataStats.topDims(absMean, TOP)) {
            topMean.addObject().put("dim", i).put("mean", st.dimMean[i]).put("std", st.dimStd[i]);
        }
        ArrayNode topStd = dims.putArray("top_std");
        for (int i : DataStats.topDims(st.dimStd, TOP)) {
            topStd.addObject().put("dim", i).put("mean", st.dimMean[i]).put("std", st.dimStd[i]);
        }
        return o;
    }

    private static void printText(PrintStream out, ActivationSource source, DataStats st) {
        if (source instanceof ConcatSource c) {
            out.printf("%d inputs:%n", c.parts().size());
            for (ActivationSource p : c.parts()) {
                out.printf("  %s  %,d rows  %s%n", p.path(), p.numRows(), p.dtype());
            }
        } else {
            out.printf("input       %s%n", source.path());
        }
        out.printf("rows        %,d x d_in %d (%s)%s%n", st.rows, source.dIn(), source.dtype(),
                st.rowsScanned < st.rows ? String.format(", first %,d scanned", st.rowsScanned) : "");
        out.printf("modality    image %,d  text %,d  unknown %,d%n", st.imageRows, st.textRows, st.unknownModalityRows);
        out.printf("row norm    mean %.4g  median %.4g (sample of %,d rows)%n", st.meanNorm, st.sample.medianNorm(), st.sample.rows());
        out.printf("outliers    %,d rows above 10x the median norm, %,d above 100x%s%n", st.above10x, st.above100x,
                st.above10x > 0 ? " (consider --max-norm-ratio)" : "");
        out.printf("bad rows    %,d holding NaN or infinity%s%n", st.badRows, st.badRows > 0 ? " (first: " + st.firstBadRows + ")" : "");
        out.printf("values      min %.4g  max %.4g%n", st.min, st.max);
        double[] sortedStd = st.dimStd.clone();
        Arrays.sort(sortedStd);
        out.printf("dims        mean in [%.4g, %.4g]; std min %.4g, median %.4g, max %.4g%n",
                Arrays.stream(st.dimMean).min().orElse(Double.NaN), Arrays.stream(st.dimMean).max().orElse(Double.NaN),
                sortedStd[0], sortedStd[sortedStd.length / 2], sortedStd[sortedStd.length - 1]);
        double[] absMean = Arrays.stream(st.dimMean).map(Math::abs).toArray();
        StringBuilder b = new StringBuilder();
        for (int i : DataStats.topDims(absMean, TOP)) {
            b.append(String.format(" %d (%.3g)", i, st.dimMean[i]));
        }
        out.println("largest |mean| dims:" + b);
        b.setLength(0);
        for (int i : DataStats.topDims(st.dimStd, TOP)) {
            b.append(String.format(" %d (%.3g)", i, st.dimStd[i]));
        }
        out.println("largest std dims:" + b);
    }
}
