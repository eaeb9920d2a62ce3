package org.saeforge.cli;

import java.nio.file.Path;
import java.util.concurrent.Callable;
import org.saeforge.core.data.ActivationSource;
import org.saeforge.core.data.ActivationSources;
import org.saeforge.core.io.Json;
import org.saeforge.core.kernels.Kernels;
import org.saeforge.core.kernels.KernelsFactory;
import org.saeforge.core.model.SparseAutoencoder;
import org.saeforge.train.EvalMetrics;
import org.saeforge.train.Evaluator;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code sae eval}: metrics of any SAELens or sparsify SAE on any activation file. */
@Command(name = "eval", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Evaluate a saved SAE (SAELens or sparsify directory, or a run directory) on activations.",
                "Prints one JSON object: fvu, mse, l0, dead_fraction, dense_fraction, rare_fraction, rows_evaluated."})
final class EvalCommand implements Callable<Integer> {
    private final Io io;

    EvalCommand(Io io) {
        this.io = io;
    }

    @Option(names = "--sae", required = true, paramLabel = "DIR", description = "SAELens or sparsify directory, or a `sae train` run directory.")
    Path sae;

    @Mixin
    DataOptions dataOptions;

    @Option(names = "--max-rows", paramLabel = "N", converter = Counts.class, defaultValue = "0",
            description = "Evaluate on the first N rows only (default: all).")
    long maxRows;

    @Option(names = "--truth", paramLabel = "FILE", description = "Ground-truth dictionary .npy to report mmcs and recovered_fraction.")
    Path truth;

    @Mixin
    DeviceOptions deviceOptions;

    @Override
    public Integer call() {
        SparseAutoencoder model = SparseAutoencoder.load(sae);
        try (ActivationSource source = dataOptions.open();
             Kernels kernels = KernelsFactory.create(deviceOptions.device(), deviceOptions.threads())) {
            Evaluator evaluator = new Evaluator(kernels);
            EvalMetrics m = evaluator.evaluateAll(model, source, maxRows);
            var json = m.toJson();
            json.put("architecture", model.config().architecture().cliName());
            json.put("d_in", model.dIn());
            json.put("num_latents", model.numLatents());
            if (truth != null) {
                double[] rec = evaluator.recovery(model, ActivationSources.readMatrix(truth));
                json.put("mmcs", rec[0]);
                json.put("recovered_fraction", rec[1]);
            }
            io.out().println(Json.compact(json));
        }
        return 0;
    }
}
