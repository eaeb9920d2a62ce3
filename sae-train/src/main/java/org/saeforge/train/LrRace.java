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
 * initial weights. Each one's batch FVU (measured before its step, so on rows it has not trained on yet unless the data
 * repeats) is averaged over two windows of {@link TrainConfig#raceWindow} steps: {@code late}, ending at
 * {@link TrainConfig#raceDecisionStep}, and {@code early}, ending two windows before. The racer with the lowest
 * projection {@code late² / early} (its FVU two windows on, were it to keep falling at the pace of the last two) trains
 * on alone, the lowest late mean breaking a near-tie ({@link #TIE}): a higher rate is ahead early in a run, and a
 * lower rate still falling faster often ends ahead (docs/training.md, "TopK: a learning-rate race"). A racer whose
 * loss stops being finite drops out. Everything here follows from the racers' steps, so a run started again from
 * step 0 races to the same choice.
 */
final class LrRace {
    private final List<TrainConfig> racers;
    private final long lateStart;
    private final long earlyStart;
    private final long earlyEnd;
    private final long decision;
    private final double[] lateSum;
    private final int[] lateSteps;
    private final double[] earlySum;
    private final int[] earlySteps;
    private final boolean[] out;
    private final String[] outReason;
    private int chosen = -1;

    LrRace(TrainConfig config) {
        this.racers = config.raceCandidates();
        this.decision = config.raceDecisionStep();
        long w = config.raceWindow();
        this.lateStart = Math.max(0, decision - w);
        this.earlyEnd = Math.max(0, decision - 2 * w);
        this.earlyStart = Math.max(0, decision - 3 * w);
        int n = racers.size();
        this.lateSum = new double[n];
        this.lateSteps = new int[n];
        this.earlySum = new double[n];
        this.earlySteps = new int[n];
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
        if (out[i]) {
            return;
        }
        if (step >= lateStart && step < decision) {
            lateSum[i] += fvu;
            lateSteps[i]++;
        } else if (step >= earlyStart && step < earlyEnd) {
            earlySum[i] += fvu;
            earlySteps[i]++;
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

    /** Racer i's mean batch FVU over the window ending at the decision. */
    double meanFvu(int i) {
        return windowMean(i, lateSum, lateSteps);
    }

    /** Racer i's mean batch FVU over the window ending two windows before the decision. */
    double earlyFvu(int i) {
        return windowMean(i, earlySum, earlySteps);
    }

    /** Racer i's mean over one window's sums; infinite for a racer that dropped out or recorded no step there. */
    private double windowMean(int i, double[] sum, int[] steps) {
        return out[i] || steps[i] == 0 ? Double.POSITIVE_INFINITY : sum[i] / steps[i];
    }

    /**
     * Racer i's FVU projected two windows past the decision, {@code late² / early}: its FVU falling on by the factor
     * {@code late / early} it fell by over the last two windows (just {@code late} without an early mean).
     */
    double projectedFvu(int i) {
        double late = meanFvu(i);
        double early = earlyFvu(i);
        return Double.isFinite(late) && Double.isFinite(early) && early > 0 ? late * late / early : late;
    }

    /**
     * Projections closer than this fraction of the lowest one count as a tie, which the late mean breaks. Measured
     * (d_in 768, as many latents as true features, k 32, 10M rows): 1.5 times the rule's rate projected 0.07192 and
     * 2.25 times 0.07199, and the higher rate, ahead in the late window (0.0865 against 0.0872), ended at test FVU
     * 0.0592 against 0.0614 (the best of a rate grid 0.0585). Of 37 races recorded (benchmarks/results and the runs
     * that measured this), no other choice changes at 0.5%; at 1% three more would (docs/training.md, "The tie rule").
     */
    static final double TIE = 0.005;

    /**
     * Picks the racer of the lowest projected FVU and returns its index; among racers projected within {@link #TIE} of
     * it, the one with the lowest late mean (the lower rate on an equal late mean).
     */
    int decide() {
        int best = -1;
        for (int i = 0; i < racers.size(); i++) {
            if (!out[i] && (best < 0 || projectedFvu(i) < projectedFvu(best))) {
                best = i;
            }
        }
        if (best >= 0) {
            double bound = projectedFvu(best) * (1 + TIE);
            for (int i = 0; i < racers.size(); i++) {
                if (!out[i] && projectedFvu(i) <= bound && meanFvu(i) < meanFvu(best)) {
                    best = i;
                }
            }
        }
        chosen = best;
        return best;
    }

    /** One line for the log: each racer's mean FVU and the choice. */
    String summary() {
        StringBuilder s = new StringBuilder(String.format(Locale.ROOT,
                "learning-rate race (mean batch FVU over steps %d-%d -> %d-%d, projected on):", earlyStart + 1, earlyEnd, lateStart + 1,
                decision));
        for (int i = 0; i < racers.size(); i++) {
            s.append(' ').append(label(racers.get(i).effectiveLr())).append(' ')
                    .append(out[i] ? "dropped out (" + outReason[i] + ")"
                            : String.format(Locale.ROOT, "%.4f -> %.4f -> %.4f", earlyFvu(i), meanFvu(i), projectedFvu(i)));
            s.append(i + 1 < racers.size() ? "," : ";");
        }
        s.append(" training on at ").append(label(racers.get(chosen).effectiveLr()));
        return s.toString();
    }

    /** The race as run.json records it. */
    ObjectNode toJson() {
        ObjectNode o = Json.object();
        o.put("decided_after_step", decision);
        o.put("early_window_steps", (earlyStart + 1) + "-" + earlyEnd);
        o.put("late_window_steps", (lateStart + 1) + "-" + decision);
        o.put("chosen_lr", racers.get(chosen).effectiveLr());
        ArrayNode a = o.putArray("racers");
        for (int i = 0; i < racers.size(); i++) {
            ObjectNode r = a.addObject();
            r.put("lr", racers.get(i).effectiveLr());
            if (out[i]) {
                r.put("dropped_out", outReason[i]);
            } else {
                r.put("early_mean_batch_fvu", earlyFvu(i));
                r.put("mean_batch_fvu", meanFvu(i));
                r.put("projected_fvu", projectedFvu(i));
            }
        }
        return o;
    }
}
