package org.saeforge.train;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.saeforge.core.FileFormatException;
import org.saeforge.core.SaeException;
import org.saeforge.core.io.AtomicFiles;
import org.saeforge.core.io.Json;
import org.saeforge.core.io.Safetensors;
import org.saeforge.core.model.SaeConfig;
import org.saeforge.core.model.SparseAutoencoder;
import org.saeforge.core.tensor.FloatMatrix;

/**
 * Training checkpoints: {@code DIR/checkpoints/step-N/} holds {@code checkpoint.json} (step, rows seen, data position,
 * activation scale, per-SAE configuration, dead-latent counters and threshold state) and one safetensors file per SAE
 * (weights, JumpReLU log-thresholds, Adam moments). Each is written to a temporary directory and renamed into place,
 * so a crash leaves either the whole checkpoint or none; the oldest are deleted beyond the number to keep.
 *
 * <p>There is no random state to save beyond the seed: the batch order is a pure function of the seed, and the data
 * position is the number of rows served (replayed on resume).
 */
final class Checkpoint {
    static final String DIR = "checkpoints";
    static final String STATE = "checkpoint.json";
    static final String FORMAT = "saeforge-checkpoint";
    private static final Pattern STEP_DIR = Pattern.compile("step-(\\d+)");

    private Checkpoint() {
    }

    /**
     * Run-level state saved beside the members. {@code heldOutRows} is the held-out size the split was made with
     * ({@link org.saeforge.core.data.HeldOutSplit#requestedRows}); -1 in checkpoints from before it was recorded.
     */
    record RunState(long step, long rowsServed, double trainSeconds, long badRows, long normDropped, float scale, double maxNorm,
                    long sourceRows, int dIn, long heldOutRows) {
    }

    /** A checkpoint read back. */
    record Loaded(Path dir, RunState run, List<JsonNode> members) {
    }

    /**
     * What a checkpoint holds of one SAE, whichever backend trained it: weights, JumpReLU log-thresholds (or null), Adam
     * moments in parameter order wEncT, bEnc, wDec, bDec[, logThreshold] with the step count, the BatchTopK threshold
     * flag and the dead-latent counters (rows since each latent was selected, and since it was positive).
     */
    record MemberState(String name, TrainConfig config, SparseAutoencoder sae, float[] logThreshold, float[][] adamM,
                       float[][] adamV, long adamSteps, boolean thresholdStarted, long[] sinceSelected, long[] sincePositive) {

        /** The state of a SAE trained on the host (shares its arrays). */
        static MemberState of(Member m) {
            return new MemberState(m.name, m.config, m.sae, m.logThreshold, m.adam.firstMoments(), m.adam.secondMoments(), m.adam.steps(),
                    m.thresholdStarted, m.dead.sinceSelected(), m.dead.sincePositive());
        }

        String file() {
            return (name.isEmpty() ? "sae" : name) + ".safetensors";
        }
    }

    /** Writes step-N atomically and deletes the oldest checkpoints beyond {@code keep}. */
    static Path write(Path outDir, RunState run, List<MemberState> members, int keep) {
        Path root = outDir.resolve(DIR);
        Path target = root.resolve("step-" + run.step());
        ObjectNode state = Json.object();
        state.put("format", FORMAT);
        state.put("version", 1);
        state.put("step", run.step());
        state.put("tokens", run.rowsServed());
        state.put("rows_served", run.rowsServed());
        state.put("train_seconds", run.trainSeconds());
        state.put("bad_rows", run.badRows());
        state.put("norm_dropped", run.normDropped());
        state.put("activation_scale", run.scale());
        state.put("max_norm", Double.isInfinite(run.maxNorm()) ? -1 : run.maxNorm());
        state.put("source_rows", run.sourceRows());
        state.put("d_in", run.dIn());
        state.put("held_out_rows", run.heldOutRows());
        state.put("data_order", "a function of the seed; resumed by replaying rows_served rows");
        ArrayNode ms = state.putArray("members");
        for (MemberState m : members) {
            ObjectNode o = ms.addObject();
            o.put("name", m.name());
            o.put("file", m.file());
            o.set("config", m.config().toJson());
            o.put("adam_steps", m.adamSteps());
            o.put("threshold_started", m.thresholdStarted());
            putLongs(o, "steps_since_fired_rows", m.sinceSelected());
            putLongs(o, "rows_since_positive", m.sincePositive());
        }
        AtomicFiles.writeDirectory(target, tmp -> {
            for (MemberState m : members) {
                Safetensors.write(tmp.resolve(m.file()), tensors(m), Map.of("format", FORMAT));
            }
            Files.writeString(tmp.resolve(STATE), Json.pretty(state) + "\n");
        });
        prune(root, keep);
        return target;
    }

    private static Map<String, Safetensors.Tensor> tensors(MemberState m) {
        SparseAutoencoder s = m.sae();
        long n = s.numLatents();
        long d = s.dIn();
        Map<String, Safetensors.Tensor> t = new LinkedHashMap<>();
        t.put("wEncT", Safetensors.Tensor.of(java.util.Arrays.copyOf(s.wEncT().data(), s.wEncT().size()), n, d));
        t.put("bEnc", Safetensors.Tensor.of(s.bEnc(), n));
        t.put("wDec", Safetensors.Tensor.of(java.util.Arrays.copyOf(s.wDec().data(), s.wDec().size()), n, d));
        t.put("bDec", Safetensors.Tensor.of(s.bDec(), d));
        if (s.threshold() != null) {
            t.put("threshold", Safetensors.Tensor.of(s.threshold(), n));
        }
        if (m.logThreshold() != null) {
            t.put("logThreshold", Safetensors.Tensor.of(m.logThreshold(), n));
        }
        float[][] m1 = m.adamM();
        float[][] m2 = m.adamV();
        for (int i = 0; i < m1.length; i++) {
            t.put("adam.m." + i, Safetensors.Tensor.of(m1[i], m1[i].length));
            t.put("adam.v." + i, Safetensors.Tensor.of(m2[i], m2[i].length));
        }
        return t;
    }

    private static void prune(Path root, int keep) {
        List<Long> steps = stepsIn(root);
        for (int i = 0; i < steps.size() - keep; i++) {
            try {
                AtomicFiles.deleteRecursively(root.resolve("step-" + steps.get(i)));
            } catch (IOException e) {
                throw SaeException.internal(root + ": cannot delete an old checkpoint (" + e.getMessage() + ")", e);
            }
        }
    }

    /** Completed checkpoint steps under root, ascending (temporary and partial directories are ignored). */
    static List<Long> stepsIn(Path root) {
        List<Long> steps = new ArrayList<>();
        if (!Files.isDirectory(root)) {
            return steps;
        }
        try (Stream<Path> s = Files.list(root)) {
            s.forEach(p -> {
                Matcher mt = STEP_DIR.matcher(p.getFileName().toString());
                if (mt.matches() && Files.isRegularFile(p.resolve(STATE))) {
                    steps.add(Long.parseLong(mt.group(1)));
                }
            });
        } catch (IOException e) {
            throw SaeException.internal(root + ": cannot list checkpoints (" + e.getMessage() + ")", e);
        }
        steps.sort(null);
        return steps;
    }

    /** The newest checkpoint of a run directory, or null when it has none. */
    static Path latest(Path outDir) {
        Path root = outDir.resolve(DIR);
        List<Long> steps = stepsIn(root);
        return steps.isEmpty() ? null : root.resolve("step-" + steps.get(steps.size() - 1));
    }

    static Loaded read(Path dir) {
        Path file = dir.resolve(STATE);
        JsonNode s = Json.read(file);
        if (!FORMAT.equals(s.path("format").asText()) || s.path("version").asInt() != 1) {
            throw new FileFormatException(file, "not a SAEForge checkpoint (format/version)");
        }
        double maxNorm = s.path("max_norm").asDouble();
        RunState run = new RunState(s.path("step").asLong(), s.path("rows_served").asLong(), s.path("train_seconds").asDouble(),
                s.path("bad_rows").asLong(), s.path("norm_dropped").asLong(), (float) s.path("activation_scale").asDouble(),
                maxNorm < 0 ? Double.POSITIVE_INFINITY : maxNorm, s.path("source_rows").asLong(), s.path("d_in").asInt(),
                s.has("held_out_rows") ? s.path("held_out_rows").asLong() : -1);
        List<JsonNode> members = new ArrayList<>();
        s.path("members").forEach(members::add);
        return new Loaded(dir, run, members);
    }

    /**
     * Reads the state of one SAE from the checkpoint entry describing it.
     *
     * @param adamSlots     parameters with Adam moments (4, or 5 with log-thresholds)
     * @param withLogThreshold whether the SAE has JumpReLU log-thresholds
     */
    static MemberState read(Loaded cp, JsonNode entry, TrainConfig config, SaeConfig saeConfig, int adamSlots, boolean withLogThreshold) {
        Path file = cp.dir().resolve(entry.path("file").asText());
        int n = saeConfig.numLatents();
        int d = saeConfig.dIn();
        try (Safetensors.Reader r = Safetensors.open(file)) {
            float[] threshold = saeConfig.architecture().usesThreshold() ? r.readFloats("threshold", n) : null;
            SparseAutoencoder sae = new SparseAutoencoder(saeConfig, FloatMatrix.wrap(n, d, r.readFloats("wEncT", n, d)), r.readFloats("bEnc", n),
                    FloatMatrix.wrap(n, d, r.readFloats("wDec", n, d)), r.readFloats("bDec", d), threshold);
            float[] logThreshold = withLogThreshold ? r.readFloats("logThreshold", n) : null;
            float[][] m1 = new float[adamSlots][];
            float[][] m2 = new float[adamSlots][];
            for (int i = 0; i < adamSlots; i++) {
                m1[i] = r.readFloats("adam.m." + i);
                m2[i] = r.readFloats("adam.v." + i);
            }
            long[] counters = longs(entry.path("steps_since_fired_rows"));
            // checkpoints from before revival have no positive counters (and their runs do not revive)
            JsonNode pos = entry.path("rows_since_positive");
            long[] positive = pos.isArray() ? longs(pos) : counters.clone();
            return new MemberState(entry.path("name").asText(), config, sae, logThreshold, m1, m2, entry.path("adam_steps").asLong(),
                    entry.path("threshold_started").asBoolean(), counters, positive);
        }
    }

    /** Writes per-latent counters as a JSON array under {@code key}. */
    private static void putLongs(ObjectNode o, String key, long[] values) {
        ArrayNode a = o.putArray(key);
        for (long v : values) {
            a.add(v);
        }
    }

    /** Reads a JSON array written by {@link #putLongs} (a missing node reads as no entries). */
    private static long[] longs(JsonNode array) {
        long[] values = new long[array.size()];
        for (int j = 0; j < values.length; j++) {
            values[j] = array.get(j).asLong();
        }
        return values;
    }
}
