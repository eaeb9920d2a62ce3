package org.saeforge.cli;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code sae resume DIR}: continues a {@code sae train} run from its newest checkpoint, with its saved settings. */
@Command(name = "resume", mixinStandardHelpOptions = true,
        description = {"Continue a sae train run from its newest checkpoint (DIR/checkpoints/step-N) with the settings in DIR/config.json.",
                "The result is bit-identical to an uninterrupted run on the same backend and thread count; --device and --threads move the "
                        + "rest of the run to another backend (e.g. a GPU checkpoint finished on the CPU)."})
final class ResumeCommand implements Callable<Integer> {
    private final Io io;

    ResumeCommand(Io io) {
        this.io = io;
    }

    @Parameters(index = "0", paramLabel = "DIR", description = "The run directory given to sae train --out.")
    Path dir;

    @Option(names = "--device", paramLabel = "DEVICE", description = "Continue on another backend: cpu, cpu-ref, cuda or auto (default: the run's).")
    String device;

    @Option(names = "--threads", paramLabel = "N", description = "CPU worker threads for the rest of the run (default: the run's).")
    Integer threads;

    @Option(names = "--gemm-precision", paramLabel = "bf16|tf32|fp32", description = "GPU encoder precision for the rest of the run (default: the run's).")
    String gemmPrecision;

    @Override
    public Integer call() {
        List<String> args = new ArrayList<>(List.of("--out", dir.toString()));
        if (device != null) {
            args.addAll(List.of("--device", device));
        }
        if (threads != null) {
            args.addAll(List.of("--threads", threads.toString()));
        }
        if (gemmPrecision != null) {
            args.addAll(List.of("--gemm-precision", gemmPrecision));
        }
        Set<String> given = Set.copyOf(args.stream().filter(a -> a.startsWith("--")).toList());
        TrainCommand train = ConfigFile.parse(dir.resolve(TrainCommand.CONFIG_FILE), new TrainCommand(io),
                opt -> given.contains(opt.longestName()), args);
        train.resume = true;
        return train.call();
    }
}
