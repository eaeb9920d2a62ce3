package org.saeforge.cli;

import java.nio.file.Path;
import java.util.concurrent.Callable;
import org.saeforge.core.SaeException;
import org.saeforge.core.data.ActivationSource;
import org.saeforge.core.data.ActivationSources;
import org.saeforge.core.data.BadRowPolicy;
import org.saeforge.core.io.CsrNpzWriter;
import org.saeforge.core.io.Json;
import org.saeforge.core.kernels.Kernels;
import org.saeforge.core.kernels.KernelsFactory;
import org.saeforge.core.model.SparseAutoencoder;
import org.saeforge.core.tensor.FloatMatrix;
import org.saeforge.core.tensor.SparseCodes;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code sae encode}: sparse codes of every row as CSR arrays in a .npz. */
@Command(name = "encode", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Encode activations with a saved SAE and write the sparse codes as a .npz of CSR arrays",
                "(indptr int64, indices int32, data float32, shape int64) for scipy.sparse.csr_matrix:",
                "  d = np.load('codes.npz'); csr_matrix((d['data'], d['indices'], d['indptr']), shape=d['shape'])",
                "Prints a JSON summary; progress goes to stderr."})
final class EncodeCommand implements Callable<Integer> {
    private final Io io;

    EncodeCommand(Io io) {
        this.io = io;
    }

    @Option(names = "--sae", required = true, paramLabel = "DIR", description = "SAELens or sparsify directory, or a `sae train` run directory.")
    Path sae;

    @Mixin
    DataOptions dataOptions;

    @Option(names = "--out", required = true, paramLabel = "FILE", description = "The .npz to write.")
    Path out;

    @Option(names = "--max-rows", paramLabel = "N", converter = Counts.class, defaultValue = "0",
            description = "Encode only the first N rows (default: all).")
    long maxRows;

    @Option(names = "--batch-size", paramLabel = "B", defaultValue = "4096", description = "Rows encoded at once (default ${DEFAULT-VALUE}).")
    int batchSize;

    @Option(names = "--on-bad-rows", paramLabel = "skip|fail", defaultValue = "skip",
            description = "Rows holding NaN or infinity: written as empty rows, so row numbers stay aligned (default skip, reported), or fail.")
    String onBadRows;

    @Mixin
    DeviceOptions deviceOptions;

    @Override
    public Integer call() {
        if (batchSize < 1) {
            throw new SaeException("--batch-size must be at least 1, got " + batchSize);
        }
        BadRowPolicy policy = BadRowPolicy.fromCliName(onBadRows);
        SparseAutoencoder model = SparseAutoencoder.load(sae);
        RowProgress progress = new RowProgress(io.err(), "encode");
        long bad = 0;
        long t0 = System.nanoTime();
        try (ActivationSource source = dataOptions.open();
             Kernels kernels = KernelsFactory.create(deviceOptions.device(), deviceOptions.threads());
             CsrNpzWriter writer = CsrNpzWriter.create(out, model.numLatents())) {
            if (source.dIn() != model.dIn()) {
                throw new SaeException(source.path() + ": rows have width " + source.dIn() + " but the SAE expects d_in " + model.dIn());
            }
            long total = maxRows > 0 ? Math.min(maxRows, source.numRows()) : source.numRows();
            int d = model.dIn();
            FloatMatrix batch = new FloatMatrix(batchSize, d);
            SparseCodes codes = model.newCodes(batchSize);
            boolean[] empty = new boolean[batchSize];
            progress.onStart(total, String.format("%s: %d rows x %d (%s); %s SAE, %d latents; backend %s", source.path().getFileName(), total, d,
                    source.dtype(), model.config().architecture().cliName(), model.numLatents(), kernels.name()));
            for (long first = 0; first < total; first += batchSize) {
                int m = (int) Math.min(batchSize, total - first);
                source.readRows(first, m, batch.data(), 0);
                for (int r = 0; r < m; r++) {
                    empty[r] = !BadRowPolicy.finiteRow(batch.data(), r * d, d);
                    if (empty[r]) {
                        if (policy == BadRowPolicy.FAIL) {
                            throw new SaeException(source.path() + ": row " + (first + r) + " holds NaN or infinity (--on-bad-rows fail)");
                        }
                        // a zero row encodes harmlessly; its codes are dropped by the writer
                        java.util.Arrays.fill(batch.data(), r * d, (r + 1) * d, 0f);
                        bad++;
                    }
                }
                kernels.encode(batch.view(m), model, codes, null);
                writer.append(codes, empty);
                progress.onRows(first + m);
            }
            progress.onPassDone(total, (System.nanoTime() - t0) / 1e9);
            writer.finish();
            if (bad > 0) {
                io.err().println("wrote " + bad + " rows holding NaN or infinity as empty rows");
            }
            var json = Json.object();
            json.put("out", out.toString());
            json.put("rows", writer.rows());
            json.put("num_latents", model.numLatents());
            json.put("nnz", writer.nnz());
            json.put("bad_rows", bad);
            json.put("seconds", Math.round((System.nanoTime() - t0) / 1e7) / 100.0);
            io.out().println(Json.compact(json));
        }
        return 0;
    }
}
