package org.saeforge.train;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import org.saeforge.core.io.Json;

/**
 * The learning-rate race of a TopK run with the default rate ({@link TrainConfig#effectiveLrRace}): the racers, one per
 * {@link TrainConfig#RACE_FACTORS} times the default rate, train side by side on the same batches from the same
 * initial weights; each one's batch FVU (measured before its step, so on rows it has not trained on yet unless the data
 * repeats) is averaged over {@link TrainConfig#raceWindowStart} to {@link TrainConfig#raceDecisionStep}, and the racer
 * with the lowest mean trains on alone. A racer whose loss stops being finite drops out. Everything here follows from
 * the racers' steps, so a run that is started again from step 0 races to the same choice.
 */
final class LrRace {
    private final List<TrainConfig> racers;
    private final long windowStart;
    private final long decision;
    private final double[] fvuSum;
    private final int[] fvuSteps;
    private final boolean[] out;
    private final String[] outReason;
    private int chosen = -1;

    LrRace(TrainConfig config) {
        this.racers = config.raceCandidates();
        this.windowStart = config.raceWindowStart();
        this.decision = config.raceDecisionStep();
        int n = racers.size();
        this.fvuSum = new double[n];
        this.fvuSteps = new int[n];
        this.out = new boolean[n];
        this.outReason = new String[n];
    }

    List<TrainConfig> racers() {
        return racers;
    }

    /** The racers' labels, as the progress line and their metrics files show them. */
    List<String> labels() {
        List<String> out = new ArrayList<>();
        for (TrainConfig c : racers) {
            out.add("lr" + label(c.effectiveLr()));
        }
        return out;
    }

    static String label(double lr) {
        return String.format(Locale.ROOT, "%.3g", lr).replace("e-0", "e-");
    }

    /** The number of steps the racers train side by side. */
    long decisionStep() {
        return decision;
    }

    boolean isOut(int i) {
        return out[i];
    }

    /** Racer i's step {@code step} (0-based) had batch FVU {@code fvu}. */
    void record(int i, long step, double fvu) {
        if (step >= windowStart && step < decision && !out[i]) {
            fvuSum[i] += fvu;
            fvuSteps[i]++;
        }
    }

    /** Racer i drops out (its loss was not finite). */
    void drop(int i, String reason) {
        out[i] = true;
        outReason[i] = reason;
    }

    /** Whether every racer has dropped out. */
    boolean allOut() {
        for (boolean o : out) {
            if (!o) {
                return false;
            }
        }
        return true;
    }

    double meanFvu(int i) {
        return out[i] || fvuSteps[i] == 0 ? Double.POSITIVE_INFINITY : fvuSum[i] / fvuSteps[i];
    }

    /** Picks the racer of the lowest mean batch FVU (the lower rate on a tie) and returns its index. */
    int decide() {
        int best = -1;
        for (int i = 0; i < racers.size(); i++) {
            if (!out[i] && (best < 0 || meanFvu(i) < meanFvu(best))) {
                best = i;
            }
        }
        chosen = best;
        return best;
    }

    /** One line for the log: each racer's mean FVU and the choice. */
    String summary() {
        StringBuilder s = new StringBuilder(String.format(Locale.ROOT, "learning-rate race over steps %d-%d (mean batch FVU):", windowStart + 1,
                decision));
        for (int i = 0; i < racers.size(); i++) {
            s.append(' ').append(label(racers.get(i).effectiveLr())).append(' ')
                    .append(out[i] ? "dropped out (" + outReason[i] + ")" : String.format(Locale.ROOT, "%.4f", meanFvu(i)));
            s.append(i + 1 < racers.size() ? "," : ";");
        }
        s.append(" training on at ").append(label(racers.get(chosen).effectiveLr()));
        return s.toString();
    }

    /** The race as run.json records it. */
    ObjectNode toJson() {
        ObjectNode o = Json.object();
        o.put("decided_after_step", decision);
        o.put("window_start_step", windowStart);
        o.put("chosen_lr", racers.get(chosen).effectiveLr());
        ArrayNode a = o.putArray("racers");
        for (int i = 0; i < racers.size(); i++) {
            ObjectNode r = a.addObject();
            r.put("lr", racers.get(i).effectiveLr());
            if (out[i]) {
                r.put("dropped_out", outReason[i]);
            } else {
                r.put("mean_batch_fvu", meanFvu(i));
            }
        }
        return o;
    }
}
