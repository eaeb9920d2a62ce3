package org.saeforge.cli;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import org.saeforge.core.model.Architecture;
import org.saeforge.core.model.SaeConfig;
import org.saeforge.core.model.SparseAutoencoder;
import org.saeforge.core.tensor.FloatMatrix;

/** Runs the CLI in-process and captures its streams. */
final class Cli {
    record Result(int code, String out, String err) {
        /** The last line of stdout (the JSON result of a computing command). */
        String lastLine() {
            String[] lines = out.strip().split("\n");
            return lines[lines.length - 1];
        }
    }

    private Cli() {
    }

    static Result run(String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int code = SaeCli.run(args, new PrintStream(out, true, StandardCharsets.UTF_8), new PrintStream(err, true, StandardCharsets.UTF_8));
        return new Result(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    static SparseAutoencoder randomSae(Architecture arch, int dIn, int n, int k, long seed) {
        return new SparseAutoencoder(new SaeConfig(arch, dIn, n, k, true, Map.of()), FloatMatrix.random(n, dIn, seed, 1f),
                FloatMatrix.random(1, n, seed + 1, 0.1f).data(), FloatMatrix.random(n, dIn, seed + 2, 1f),
                FloatMatrix.random(1, dIn, seed + 3, 0.1f).data(), arch.usesThreshold() ? FloatMatrix.random(1, n, seed + 4, 0.1f).data() : null);
    }
}
