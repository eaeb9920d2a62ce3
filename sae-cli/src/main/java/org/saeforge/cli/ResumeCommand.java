package org.saeforge.cli;

import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

/** {@code sae resume DIR}: continues a {@code sae train} run from its newest checkpoint, with its saved settings. */
@Command(name = "resume", mixinStandardHelpOptions = true,
        description = {"Continue a sae train run from its newest checkpoint (DIR/checkpoints/step-N) with the settings in DIR/config.json.",
                "The result is bit-identical to an uninterrupted run (same backend and thread count)."})
final class ResumeCommand implements Callable<Integer> {
    private final Io io;

    ResumeCommand(Io io) {
        this.io = io;
    }

    @Parameters(index = "0", paramLabel = "DIR", description = "The run directory given to sae train --out.")
    Path dir;

    @Override
    public Integer call() {
        TrainCommand train = ConfigFile.parse(dir.resolve(TrainCommand.CONFIG_FILE), new TrainCommand(io),
                opt -> opt.longestName().equals("--out"), List.of("--out", dir.toString()));
        train.resume = true;
        return train.call();
    }
}
