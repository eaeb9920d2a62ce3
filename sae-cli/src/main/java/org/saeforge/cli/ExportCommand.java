package org.saeforge.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import org.saeforge.core.SaeException;
import org.saeforge.core.io.Json;
import org.saeforge.core.io.SaeLensFormat;
import org.saeforge.core.io.Safetensors;
import org.saeforge.core.io.SparsifyFormat;
import org.saeforge.core.model.SparseAutoencoder;
import org.saeforge.train.Trainer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code sae export}: writes a saved SAE as a SAELens or sparsify directory. */
@Command(name = "export", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Export a SAE (a `sae train` run directory, or a SAELens or sparsify directory) to SAELens or sparsify.",
                "SAELens exports keep sparsity.safetensors when the source has one. Prints a JSON summary."})
final class ExportCommand implements Callable<Integer> {
    private final Io io;

    ExportCommand(Io io) {
        this.io = io;
    }

    @Option(names = "--run", required = true, paramLabel = "DIR", description = "Run directory, or a SAELens or sparsify directory.")
    Path run;

    @Option(names = "--format", required = true, paramLabel = "saelens|sparsify", description = "Output layout (FORMATS.md).")
    String format;

    @Option(names = "--out", required = true, paramLabel = "OUT", description = "Directory to write (an existing SAE export there is replaced).")
    Path out;

    @Override
    public Integer call() {
        if (!"saelens".equals(format) && !"sparsify".equals(format)) {
            throw new SaeException("--format must be saelens or sparsify, got '" + format + "'");
        }
        SparseAutoencoder sae = SparseAutoencoder.load(run);
        refuseToReplace();
        if ("saelens".equals(format)) {
            float[] sparsity = sourceSparsity(sae.numLatents());
            SaeLensFormat.write(sae, out, sparsity);
        } else {
            SparsifyFormat.write(sae, out);
        }
        var json = Json.object();
        json.put("format", format);
        json.put("out", out.toString());
        json.put("architecture", sae.config().architecture().cliName());
        json.put("d_in", sae.dIn());
        json.put("d_sae", sae.numLatents());
        io.out().println(Json.compact(json));
        return 0;
    }

    /** The source's log10 densities when it is (or holds) a SAELens directory with sparsity.safetensors, else null. */
    private float[] sourceSparsity(int dSae) {
        Path dir = SaeLensFormat.looksLike(run) ? run : run.resolve(Trainer.SAELENS_DIR);
        Path file = dir.resolve(SaeLensFormat.SPARSITY);
        if (!Files.isRegularFile(file)) {
            return null;
        }
        try (Safetensors.Reader r = Safetensors.open(file)) {
            return r.readFloats("sparsity", dSae);
        }
    }

    /** Replacing is fine for an earlier export; anything else (a run directory, other files) is refused. */
    private void refuseToReplace() {
        if (!Files.exists(out)) {
            return;
        }
        if (!Files.isDirectory(out)) {
            throw new SaeException(out + ": exists and is a file; --out needs a directory path");
        }
        if (SaeLensFormat.looksLike(out) || SparsifyFormat.looksLike(out)) {
            return;
        }
        try (var entries = Files.list(out)) {
            if (entries.findAny().isPresent()) {
                throw new SaeException(out + ": exists and is not empty and not a SAE export; choose another --out");
            }
        } catch (IOException e) {
            throw new SaeException(out + ": cannot list (" + e.getMessage() + ")", e);
        }
    }
}
