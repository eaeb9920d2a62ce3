package org.saeforge.bench;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import org.saeforge.core.data.ActivationSource;
import org.saeforge.core.data.ActivationSources;
import org.saeforge.core.io.Json;
import org.saeforge.core.kernels.Device;
import org.saeforge.train.TrainConfig;
import org.saeforge.train.TrainResult;
import org.saeforge.train.Trainer;

/**
 * End-to-end CPU training throughput: trains on a file with the given shape and prints one JSON object with rows/s of
 * the training loop (no loading, initialisation or evaluation, like the PyTorch peer's tokens_per_sec), held-out FVU
 * and peak RSS.
 *
 * <p>Usage: {@code TrainThroughput DATA NUM_LATENTS K BATCH TOKENS THREADS [device]}
 */
public final class TrainThroughput {
    private TrainThroughput() {
    }

    public static void main(String[] args) throws IOException {
        if (args.length < 6) {
            System.err.println("usage: TrainThroughput DATA NUM_LATENTS K BATCH TOKENS THREADS [cpu|cpu-ref]");
            System.exit(2);
        }
        Path data = Paths.get(args[0]);
        int numLatents = Integer.parseInt(args[1]);
        int k = Integer.parseInt(args[2]);
        int batch = Integer.parseInt(args[3]);
        long tokens = Long.parseLong(args[4]);
        int threads = Integer.parseInt(args[5]);
        Device device = Device.fromCliName(args.length > 6 ? args[6] : "cpu");
        // a fixed k, as the peers train (the default anneals k down from 2k over most of the run)
        TrainConfig config = TrainConfig.defaults(numLatents, k).toBuilder().kStart(0).build().withBatchSize(batch)
                .withTokens(tokens).withDevice(device, threads).withEvalRows(10_000);
        TrainResult r;
        try (ActivationSource src = ActivationSources.open(data)) {
            r = new Trainer(config, null).train(src, null, null, null);
        }
        ObjectNode o = Json.object();
        o.put("d_in", r.sae().dIn());
        o.put("num_latents", numLatents);
        o.put("k", k);
        o.put("batch", batch);
        o.put("threads", threads);
        o.put("tokens", r.tokens());
        o.put("steps", r.steps());
        o.put("train_seconds", r.trainSeconds());
        o.put("rows_per_sec", r.rowsPerSec());
        o.put("fvu", r.eval().fvu());
        o.put("backend", r.backend());
        o.put("peak_rss_mb", peakRssMb());
        o.put("java", Runtime.version().toString());
        System.out.println(Json.compact(o));
    }

    /** VmHWM from /proc/self/status (peak resident set), or -1 where unavailable. */
    static double peakRssMb() throws IOException {
        Path status = Paths.get("/proc/self/status");
        if (!Files.isReadable(status)) {
            return -1;
        }
        for (String line : Files.readAllLines(status)) {
            if (line.startsWith("VmHWM:")) {
                return Long.parseLong(line.replaceAll("[^0-9]", "")) / 1024.0;
            }
        }
        return -1;
    }
}
