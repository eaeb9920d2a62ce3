package org.saeforge.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.saeforge.core.SaeException;
import org.saeforge.core.data.ActivationSource;
import org.saeforge.core.data.ActivationSources;
import org.saeforge.core.io.Json;
import org.saeforge.core.kernels.Device;
import org.saeforge.core.model.Architecture;
import org.saeforge.core.model.SparseAutoencoder;
import org.saeforge.train.synth.SyntheticData;

/**
 * The learning-rate race of TopK runs with the default rate: the choice follows the racers' projected batch FVU, the winner
 * ends exactly as a run at its rate alone would, a run resumed after the race ends bit-identically, and the race stays
 * off where it does not apply.
 */
class LrRaceTest {
    @TempDir
    static Path tmp;
    static Path data;

    @BeforeAll
    static void makeData() {
        data = tmp.resolve("acts.npy");
        new SyntheticData(24, 64, 3, 7).write(data, 12_000);
    }

    /** 60 steps: the race runs to step 18 and averages steps 10-12 and 16-18; checkpoints every 3 steps after it. */
    static TrainConfig config() {
        return new TrainConfig.Builder().architecture(Architecture.TOPK).numLatents(96).k(3).batchSize(256).tokens(256 * 60)
                .evalRows(1000).bufferBytes(3000L * 24 * 4).device(Device.CPU).threads(2).deadAfter(1024).checkpointEvery(3 * 256)
                .keepCheckpoints(2).warmupSteps(3).logEvery(1).build();
    }

    @Test
    void theRaceSchedule() {
        TrainConfig c = config();
        assertTrue(c.racesLr() && c.effectiveLrRace());
        assertEquals(18, c.raceDecisionStep());
        assertEquals(3, c.raceWindow(), "5% of 60 steps");
        List<TrainConfig> racers = c.raceCandidates();
        assertEquals(TrainConfig.RACE_FACTORS.length, racers.size());
        for (int i = 0; i < racers.size(); i++) {
            assertEquals(c.ruleLr() * TrainConfig.RACE_FACTORS[i], racers.get(i).effectiveLr(), 1e-15);
            assertFalse(racers.get(i).racesLr(), "a racer does not race again");
            assertTrue(racers.get(i).effectiveLrRace(), "a racer's run raced");
        }
        // where it does not apply
        assertFalse(c.toBuilder().lr(1e-3).build().effectiveLrRace(), "an explicit --lr");
        assertFalse(c.toBuilder().lrRace(false).build().effectiveLrRace(), "--no-lr-race");
        assertFalse(c.toBuilder().tokens(256L * (TrainConfig.RACE_MIN_STEPS - 1)).build().effectiveLrRace(), "too short");
        assertFalse(c.toBuilder().architecture(Architecture.BATCH_TOPK).build().effectiveLrRace(), "batchtopk");
        assertFalse(c.toBuilder().device(Device.CUDA).build().effectiveLrRace(), "the GPU");
        assertTrue(c.toBuilder().lrRace(true).build().effectiveLrRace());
        // from 45,000 steps on the rule's rate is sparsify's: no race unless asked for; a run whose race chose its
        // rate (a resumed one) still reports that it raced
        TrainConfig longest = c.toBuilder().tokens(256L * 44_999).build();
        assertTrue(longest.ruleBoosted() && longest.effectiveLrRace(), "44,999 steps");
        TrainConfig flat = c.toBuilder().tokens(256L * 45_000).build();
        assertEquals(TrainConfig.sparsifyLr(96), flat.ruleLr(), 1e-18);
        assertFalse(flat.ruleBoosted() || flat.effectiveLrRace() || flat.racesLr(), "45,000 steps");
        assertTrue(flat.toBuilder().lrRace(true).build().racesLr(), "--lr-race on a long run");
        assertTrue(flat.toBuilder().lrRaced(1e-3).build().effectiveLrRace(), "a long run that raced");
        assertTrue(c.toBuilder().numLatents(16384).tokens(256L * 89_000).build().effectiveLrRace(), "wider: 90,000 steps");
        assertFalse(c.toBuilder().numLatents(16384).tokens(256L * 90_010).build().effectiveLrRace());
        // refused settings
        assertThrows(SaeException.class, () -> c.toBuilder().lrRace(true).lr(1e-3).build());
        assertThrows(SaeException.class, () -> c.toBuilder().lrRace(true).architecture(Architecture.RELU).k(0).build());
        assertThrows(SaeException.class, () -> c.toBuilder().lrRace(true).device(Device.CUDA).build());
        assertThrows(SaeException.class, () -> new Trainer(List.of(c.toBuilder().lrRace(true).build(),
                c.toBuilder().numLatents(48).build()), null));
        // the JSON round trip keeps the setting and the chosen rate; an old file without them did not race
        TrainConfig chosen = racers.get(1);
        assertEquals(chosen, TrainConfig.fromJson(chosen.toJson()));
        assertEquals(c, TrainConfig.fromJson(c.toJson()));
        com.fasterxml.jackson.databind.node.ObjectNode old = c.toJson();
        old.remove("lr_race");
        old.remove("lr_raced");
        assertFalse(TrainConfig.fromJson(old).effectiveLrRace());
    }

    @Test
    void theLowestProjectedFvuWinsAndADroppedRacerNeverDoes() {
        // 60 steps: early window steps 9-11, late window 15-17 (0-based); other steps do not count
        LrRace race = new LrRace(config());
        for (long s = 0; s < 18; s++) {
            boolean early = s >= 9 && s < 12;
            boolean late = s >= 15;
            race.record(0, s, early ? 0.8 : late ? 0.4 : 9); // falls fast: 0.4 now, 0.2 projected
            race.record(1, s, early ? 0.5 : late ? 0.3 : 9); // ahead now, falls slower: 0.18 projected
            race.record(2, s, early ? 0.3 : late ? 0.3 : 0); // flat: 0.3
        }
        assertEquals(0.4, race.meanFvu(0), 1e-12);
        assertEquals(0.8, race.earlyFvu(0), 1e-12);
        assertEquals(0.2, race.projectedFvu(0), 1e-12);
        assertEquals(0.18, race.projectedFvu(1), 1e-12);
        assertEquals(1, race.decide());
        LrRace behind = new LrRace(config());
        for (long s = 9; s < 18; s++) {
            behind.record(0, s, s < 12 ? 0.8 : 0.3); // projected 0.1125
            behind.record(1, s, s < 12 ? 0.4 : 0.25); // ahead at the decision, projected 0.156
        }
        behind.record(2, 16, 0.5);
        assertEquals(0, behind.decide(), "the lower rate still falling fast wins though behind at the decision");
        LrRace tie = new LrRace(config());
        for (long s = 9; s < 18; s++) {
            tie.record(0, s, 0.3);
            tie.record(1, s, 0.3);
            tie.record(2, s, 0.3);
        }
        assertEquals(0, tie.decide(), "a tie goes to the lower rate");
        LrRace nearTie = new LrRace(config());
        LrRace apart = new LrRace(config());
        for (long s = 9; s < 18; s++) {
            boolean early = s < 12;
            nearTie.record(0, s, early ? 0.5 : 0.4); // projected 0.32
            nearTie.record(1, s, early ? 0.45 : 0.38); // projected 0.32089, within 0.5%, and ahead at the decision
            nearTie.record(2, s, 0.9);
            apart.record(0, s, early ? 0.5 : 0.4);
            apart.record(1, s, early ? 0.44 : 0.38); // projected 0.32818: 2.6% behind
            apart.record(2, s, 0.9);
        }
        assertEquals(1, nearTie.decide(), "a near-tie of projections goes to the lower late mean");
        assertEquals(0, apart.decide(), "outside the tie the projection decides");
        LrRace second = new LrRace(config());
        second.record(0, 16, 0.5);
        second.record(1, 16, 0.1);
        second.record(2, 16, 0.4);
        second.drop(1, "loss not finite at step 17");
        assertEquals(2, second.decide(), "without an early window the late mean decides");
        assertTrue(second.summary().contains("dropped out"), second.summary());
        assertFalse(second.allOut());
    }

    @Test
    void theWinnerEndsAsARunAtItsRateAloneAndResumesExactly() throws Exception {
        TrainConfig c = config();
        Path whole = tmp.resolve("whole");
        Path cut = tmp.resolve("cut");
        List<String> infos = new ArrayList<>();
        TrainListener listener = new TrainListener() {
            @Override
            public void onInfo(String message) {
                infos.add(message);
            }
        };
        try (ActivationSource src = ActivationSources.open(data)) {
            TrainResult raced = new Trainer(c, listener).train(src, whole, null, Map.of());
            JsonNode run = Json.mapper().readTree(whole.resolve(Trainer.RUN_FILE).toFile());
            JsonNode race = run.path("lr_race");
            assertEquals(3, race.path("racers").size(), run.toString());
            double chosen = race.path("chosen_lr").asDouble();
            double bestFvu = Double.POSITIVE_INFINITY;
            double bestLr = Double.NaN;
            for (JsonNode r : race.path("racers")) {
                double early = r.path("early_mean_batch_fvu").asDouble();
                double late = r.path("mean_batch_fvu").asDouble();
                assertEquals(late * late / early, r.path("projected_fvu").asDouble(), 1e-12);
                if (r.path("projected_fvu").asDouble() < bestFvu) {
                    bestFvu = r.path("projected_fvu").asDouble();
                    bestLr = r.path("lr").asDouble();
                }
            }
            assertEquals(bestLr, chosen, "the racer of the lowest projected FVU goes on");
            assertEquals(chosen, run.path("config").path("effective").path("lr").asDouble());
            assertEquals(chosen, run.path("config").path("lr_raced").asDouble());
            assertTrue(infos.stream().anyMatch(m -> m.startsWith("learning-rate race (mean batch FVU over steps 10-12 -> 16-18")), infos.toString());

            SparseAutoencoder alone = new Trainer(c.toBuilder().lr(chosen).build(), null).train(src, null, null, Map.of()).sae();
            assertTrue(alone.sameWeights(raced.sae()), "the winner ends as a run at its rate alone");

            // a crash after the race (checkpoints at steps 21 and 24 kept) resumes bit-identically
            assertThrows(CheckpointResumeTest.Crash.class, () -> new Trainer(c, CheckpointResumeTest.crashAt(26)).train(src, cut, null, Map.of()));
            assertEquals(List.of(21L, 24L), Checkpoint.stepsIn(cut.resolve(Checkpoint.DIR)));
            SparseAutoencoder resumed = new Trainer(c, null).resume(src, cut, null, Map.of()).get(0).sae();
            assertTrue(raced.sae().sameWeights(resumed), "resumed weights differ from the uninterrupted run's");
            JsonNode cutRun = Json.mapper().readTree(cut.resolve(Trainer.RUN_FILE).toFile());
            assertEquals(race, cutRun.path("lr_race"), "run.json of the resumed run keeps the race");
        }
        // one metrics line per step; the race's steps are the winner's lines from its racer's log
        List<String> a = Files.readAllLines(whole.resolve(Trainer.METRICS_FILE));
        List<String> b = Files.readAllLines(cut.resolve(Trainer.METRICS_FILE));
        assertEquals(60, a.size());
        assertEquals(strip(a), strip(b));
        String label = "lr" + LrRace.label(Json.mapper().readTree(whole.resolve(Trainer.RUN_FILE).toFile()).path("lr_race").path("chosen_lr")
                .asDouble());
        List<String> racer = Files.readAllLines(whole.resolve(Trainer.RACE_DIR).resolve(label).resolve(Trainer.METRICS_FILE));
        assertEquals(18, racer.size());
        assertEquals(racer, a.subList(0, 18));
        assertTrue(Files.isRegularFile(whole.resolve(Trainer.RACE_DIR).resolve(Trainer.RACE_FILE)));
    }

    @Test
    void aCrashDuringTheRaceLeavesNoCheckpointAndOffTrainsAtTheDefaultRate() throws Exception {
        TrainConfig c = config();
        Path early = tmp.resolve("early");
        try (ActivationSource src = ActivationSources.open(data)) {
            assertThrows(CheckpointResumeTest.Crash.class, () -> new Trainer(c, CheckpointResumeTest.crashAt(12)).train(src, early, null, Map.of()));
            assertEquals(List.of(), Checkpoint.stepsIn(early.resolve(Checkpoint.DIR)), "no checkpoint inside the race");
            SaeException e = assertThrows(SaeException.class, () -> new Trainer(c, null).resume(src, early, null, Map.of()));
            assertTrue(e.getMessage().contains("no checkpoint") && e.getMessage().contains("inside its learning-rate race"), e.getMessage());

            Path off = tmp.resolve("off");
            new Trainer(c.toBuilder().lrRace(false).build(), null).train(src, off, null, Map.of());
            JsonNode run = Json.mapper().readTree(off.resolve(Trainer.RUN_FILE).toFile());
            assertTrue(run.path("lr_race").isMissingNode());
            assertEquals(c.ruleLr(), run.path("config").path("effective").path("lr").asDouble());
            assertFalse(Files.exists(off.resolve(Trainer.RACE_DIR)));
        }
    }

    private static List<String> strip(List<String> lines) {
        return lines.stream().map(l -> l.replaceAll(",\"rows_per_sec\":[0-9.]+", "")).toList();
    }
}
