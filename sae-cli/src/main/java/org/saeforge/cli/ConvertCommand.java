package org.saeforge.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import java.util.stream.Stream;
import org.saeforge.core.SaeException;
import org.saeforge.core.data.ActivationSource;
import org.saeforge.core.data.ShardFolder;
import org.saeforge.core.io.Json;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code sae convert}: any activation input to a shard folder, the fastest format to train from. */
@Command(name = "convert", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Convert activations (any format, several files, one modality) into a shard folder:",
                "shards.json + shard-00000.bin... raw little-endian rows, plus row metadata columns when the input has them.",
                "Written atomically (a temporary folder renamed into place). Prints one JSON object."})
final class ConvertCommand implements Callable<Integer> {
    private final Io io;

    ConvertCommand(Io io) {
        this.io = io;
    }

    @Mixin
    DataOptions dataOptions;

    @Option(names = "--out", required = true, paramLabel = "DIR", description = "Shard folder to write (new, empty, or an old shard folder to replace).")
    Path out;

    @Option(names = "--dtype", paramLabel = "float32|float16", defaultValue = "float32",
            description = "Element type of the shards (default ${DEFAULT-VALUE}); float16 halves the size and fails on values beyond +-65504.")
    String dtype;

    @Option(names = "--shard-mb", paramLabel = "MB", defaultValue = "1024", description = "Target shard size (default ${DEFAULT-VALUE} MB).")
    long shardMb;

    @Override
    public Integer call() {
        if (!dtype.equals("float32") && !dtype.equals("float16")) {
            throw new SaeException("--dtype must be float32 or float16, got '" + dtype + "'");
        }
        if (shardMb < 1) {
            throw new SaeException("--shard-mb must be at least 1, got " + shardMb);
        }
        checkOut();
        try (ActivationSource source = dataOptions.open()) {
            if (source.path().toAbsolutePath().normalize().equals(out.toAbsolutePath().normalize())) {
                throw new SaeException(out + ": --out is the input; write the shard folder somewhere else");
            }
            io.err().printf("converting %s: %,d rows x %d (%s) -> %s (%s)%n", source.path(), source.numRows(), source.dIn(), source.dtype(),
                    out, dtype);
            long t0 = System.nanoTime();
            try (RowProgress progress = new RowProgress(io.err(), "convert", source.numRows())) {
                ShardFolder.write(source, out, dtype, shardMb << 20, progress::onRows);
            }
            double secs = (System.nanoTime() - t0) / 1e9;
            try (ShardFolder written = ShardFolder.open(out)) {
                var o = Json.object();
                o.put("out", out.toString());
                o.put("rows", written.numRows());
                o.put("d_in", written.dIn());
                o.put("dtype", written.dtype());
                o.put("shards", written.numShards());
                o.put("metadata", written.metadata() != null);
                o.put("seconds", Math.round(secs * 100) / 100.0);
                io.out().println(Json.compact(o));
            }
        }
        return 0;
    }

    private void checkOut() {
        if (!Files.exists(out) || ShardFolder.isShardFolder(out)) {
            return;
        }
        if (!Files.isDirectory(out)) {
            throw new SaeException(out + ": --out exists and is a file; give a folder path");
        }
        try (Stream<Path> s = Files.list(out)) {
            if (s.findAny().isPresent()) {
                throw new SaeException(out + ": --out exists, is not empty and is not a shard folder; refusing to replace it");
            }
        } catch (IOException e) {
            throw new SaeException(out + ": cannot list (" + e.getMessage() + ")");
        }
    }
}
