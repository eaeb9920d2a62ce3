package org.saeforge.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.saeforge.core.SaeException;
import org.saeforge.core.data.ActivationSource;
import org.saeforge.core.data.ActivationSources;
import org.saeforge.core.data.HeldOutSplit;
import org.saeforge.core.io.Json;
import org.saeforge.core.kernels.Device;
import org.saeforge.core.model.Architecture;
import org.saeforge.core.model.SparseAutoencoder;
import org.saeforge.core.tensor.FloatMatrix;
import org.saeforge.train.synth.SyntheticData;

/** End-to-end training on small synthetic data with a known dictionary. */
class TrainerTest {
    @TempDir
    static Path tmp;
    static Path data;
    static FloatMatrix truth;

    @BeforeAll
    static void makeData() {
        SyntheticData synth = new SyntheticData(32, 96, 4, 1);
        data = tmp.resolve("acts.npy");
        synth.write(data, 40_000);
        truth = synth.truth();
    }

    static TrainConfig small() {
        return TrainConfig.defaults(192, 4).withBatchSize(512).withTokens(300_000).withLr(4e-3).withEvalRows(2000)
                .withDevice(Device.CPU, 2);
    }

    @Test
    void learnsTheSyntheticDictionary() throws IOException {
        Path out = tmp.resolve("run");
        TrainResult r;
        try (ActivationSource src = ActivationSources.open(data)) {
            r = new Trainer(small(), null).train(src, out, truth, Map.of("model_name", "unit-test"));
        }
        assertTrue(r.eval().fvu() < 0.25, "held-out FVU " + r.eval().fvu());
        assertTrue(r.recovered() > 0.5, "recovered " + r.recovered());
        assertEquals(4.0, r.eval().l0(), 0.05);
        assertEquals(585, r.steps());
        assertTrue(r.eval().rows() >= 2000);

        SparseAutoencoder loaded = SparseAutoencoder.load(out.resolve(Trainer.SAELENS_DIR));
        assertArrayEquals(r.sae().wEncT().data(), loaded.wEncT().data(), "the export holds the trained weights");
        assertArrayEquals(r.sae().wDec().data(), loaded.wDec().data());
        assertArrayEquals(r.sae().bEnc(), loaded.bEnc());
        assertArrayEquals(r.sae().bDec(), loaded.bDec());
        assertEquals("unit-test", loaded.config().metadata().get("model_name"));
        List<String> lines = Files.readAllLines(out.resolve(Trainer.METRICS_FILE));
        assertTrue(lines.size() >= 50, "metrics.jsonl has a line per logged step: " + lines.size());
        JsonNode first = Json.mapper().readTree(lines.get(0));
        JsonNode last = Json.mapper().readTree(lines.get(lines.size() - 1));
        for (String field : new String[] {"step", "tokens", "lr", "fvu", "auxk", "l0", "dead_fraction", "rows_per_sec"}) {
            assertTrue(last.has(field), field);
        }
        assertTrue(last.get("fvu").asDouble() < first.get("fvu").asDouble(), "training FVU decreases");
        JsonNode run = Json.read(out.resolve("run.json"));
        assertEquals(192, run.get("config").get("num_latents").asInt());
        for (int j = 0; j < loaded.numLatents(); j++) {
            double ss = 0;
            for (int i = 0; i < loaded.dIn(); i++) {
                ss += loaded.wDec().get(j, i) * loaded.wDec().get(j, i);
            }
            assertEquals(1.0, ss, 1e-4, "decoder row " + j + " stays unit-norm");
        }
    }

    @Test
    void sameSeedGivesIdenticalWeights() {
        TrainConfig c = small().withTokens(40_000);
        SparseAutoencoder a;
        SparseAutoencoder b;
        SparseAutoencoder other;
        try (ActivationSource src = ActivationSources.open(data)) {
            a = new Trainer(c, null).train(src, null, null, null).sae();
            b = new Trainer(c, null).train(src, null, null, null).sae();
            other = new Trainer(c.withSeed(9), null).train(src, null, null, null).sae();
        }
        assertTrue(a.sameWeights(b));
        assertFalse(a.sameWeights(other));
    }

    @Test
    void fastPathMatchesReferenceQuality() {
        TrainConfig c = TrainConfig.defaults(48, 3).withBatchSize(128).withTokens(20_000).withLr(3e-3).withEvalRows(1000);
        double[] fvu = new double[2];
        Device[] devices = {Device.CPU, Device.CPU_REF};
        try (ActivationSource src = ActivationSources.open(data)) {
            for (int i = 0; i < 2; i++) {
                fvu[i] = new Trainer(c.withDevice(devices[i], 2), null).train(src, null, null, null).eval().fvu();
            }
        }
        assertEquals(fvu[1], fvu[0], 0.005 * fvu[1], "held-out FVU cpu " + fvu[0] + " vs cpu-ref " + fvu[1]);
    }

    @Test
    void auxKRevivesDeadLatents() {
        // A tiny dead window makes latents dead quickly; AuxK must keep the dead share well below the run without it.
        TrainConfig base = small().toBuilder().tokens(150_000).deadAfter(2048).reviveAfter(0).build();
        double withAux;
        double withoutAux;
        try (ActivationSource src = ActivationSources.open(data)) {
            withAux = new Trainer(base, null).train(src, null, null, null).eval().deadFraction();
            withoutAux = new Trainer(base.withAuxK(0, -1), null).train(src, null, null, null).eval().deadFraction();
        }
        assertTrue(withAux < withoutAux, "dead fraction with AuxK " + withAux + " vs without " + withoutAux);
    }

    @Test
    void revivalKeepsLatentsFiring() {
        // 192 latents for 96 true features at a high learning rate: without revival part of the dictionary stops firing
        TrainConfig base = small().toBuilder().tokens(150_000).lr(1e-2).build();
        double revived;
        double plain;
        try (ActivationSource src = ActivationSources.open(data)) {
            revived = new Trainer(base, null).train(src, null, null, null).eval().deadFraction();
            plain = new Trainer(base.toBuilder().reviveAfter(0).build(), null).train(src, null, null, null).eval().deadFraction();
        }
        assertTrue(plain > 0.02, "the run without revival has latents that never fire on the held-out rows: " + plain);
        assertTrue(revived < plain / 2, "dead fraction with revival " + revived + " vs without " + plain);
    }

    @Test
    void theDefaultRateStaysUnderTheCeilingOfTheRowWidth() throws IOException {
        Path wide = tmp.resolve("wide-rows.npy");
        new SyntheticData(400, 96, 4, 3).write(wide, 1_200);
        TrainConfig c = new TrainConfig.Builder().numLatents(64).k(4).batchSize(64).tokens(64 * 8).evalRows(200)
                .device(Device.CPU).threads(2).checkpointEvery(0).build();
        assertTrue(TrainConfig.autoLr(Architecture.TOPK, 64, c.steps()) > 2 * TrainConfig.lrCeiling(400), "the boost alone would exceed it");
        Path out = tmp.resolve("wide");
        try (ActivationSource src = ActivationSources.open(wide)) {
            new Trainer(c, null).train(src, out, null, Map.of());
        }
        JsonNode config = Json.read(out.resolve("run.json")).get("config");
        assertEquals(400, config.get("d_in").asInt());
        assertEquals(TrainConfig.lrCeiling(400), config.get("effective").get("lr").asDouble(), 1e-15, "6e-3 x (768 / 400)^0.75");
    }

    @Test
    void theTrainerGivesEachConfigurationItsTrainingRows() throws IOException {
        // JumpReLU's default rate and revival window scale with the passes over the training rows (TrainConfig#passes)
        Path few = tmp.resolve("few-rows.npy");
        new SyntheticData(32, 96, 4, 3).write(few, 4_000);
        long trainRows = HeldOutSplit.create(4_000, 200, 0).trainRows();
        TrainConfig c = small().toBuilder().architecture(Architecture.JUMPRELU).normalizeActivations(true).lr(Double.NaN)
                .evalRows(200).tokens(trainRows * 60).build();
        assertEquals(-1, c.trainRows());
        Path out = tmp.resolve("passes");
        Trainer trainer = new Trainer(List.of(c, c.toBuilder().k(6).build()), null);
        try (ActivationSource src = ActivationSources.open(few)) {
            trainer.trainAll(src, out, null, null);
        }
        JsonNode sweep = Json.read(out.resolve(Trainer.SWEEP_FILE)).get("saes");
        for (int i = 0; i < 2; i++) {
            int k = i == 0 ? 4 : 6;
            JsonNode config = Json.read(out.resolve(trainer.names().get(i)).resolve("run.json")).get("config");
            assertEquals(k, config.get("k").asInt());
            assertEquals(trainRows, config.get("train_rows").asLong());
            assertEquals(32, config.get("d_in").asInt(), "the row width, which bounds the default rate");
            JsonNode eff = config.get("effective");
            assertEquals(60.0, eff.get("passes").asDouble(), 1e-12);
            assertEquals(Math.round(TrainConfig.autoReviveAfter(192, k) * 3.0), eff.get("revive_after").asLong(), "x passes / 20");
            // one pass's rate has the factor 3; from 40 passes on it is 2, and the rate falls as sqrt(40 / passes)
            double lr = Math.min(TrainConfig.lrCeiling(32), TrainConfig.autoLr(Architecture.JUMPRELU, 192, c.steps()) * 2 / 3 * Math.sqrt(40.0 / 60));
            assertEquals(lr, eff.get("lr").asDouble(), 1e-15, "x 2/3 x sqrt(40 / passes)");
            assertEquals(lr, sweep.get(i).get("lr").asDouble(), 1e-15, "the sweep summary gives the rate that trained");
        }
    }

    @ParameterizedTest
    @EnumSource(value = Architecture.class, names = {"BATCH_TOPK", "MATRYOSHKA", "JUMPRELU"})
    void revivalKeepsLatentsOfTheOtherArchitecturesFiring(Architecture arch) {
        // the same revival serves the batch-selection architectures and JumpReLU (with its threshold step) by default
        TrainConfig base = small().toBuilder().architecture(arch).normalizeActivations(arch == Architecture.JUMPRELU).tokens(150_000)
                .lr(1e-2).build();
        assertEquals(TrainConfig.autoReviveAfter(192, 4), base.effectiveReviveAfter());
        double revived;
        double plain;
        try (ActivationSource src = ActivationSources.open(data)) {
            revived = new Trainer(base, null).train(src, null, null, null).eval().deadFraction();
            plain = new Trainer(base.toBuilder().reviveAfter(0).build(), null).train(src, null, null, null).eval().deadFraction();
        }
        assertTrue(plain > 0.02, arch + ": the run without revival has latents that never fire on the held-out rows: " + plain);
        assertTrue(revived < plain / 2, arch + ": dead fraction with revival " + revived + " vs without " + plain);
    }

    @Test
    void refusesImpossibleConfigurations() {
        assertThrows(SaeException.class, () -> TrainConfig.defaults(10, 11));
        assertThrows(SaeException.class, () -> TrainConfig.defaults(10, 2).withTokens(100).withBatchSize(4096));
        try (ActivationSource src = ActivationSources.open(data)) {
            SaeException e = assertThrows(SaeException.class,
                    () -> new Trainer(small(), null).train(src, null, new FloatMatrix(3, 31), null));
            assertTrue(e.getMessage().contains("31"), e.getMessage());
            SaeException big = assertThrows(SaeException.class,
                    () -> new Trainer(small().withBatchSize(39_000).withTokens(39_000), null).train(src, null, null, null));
            assertTrue(big.getMessage().contains("fewer than one batch"), big.getMessage());
        }
    }
}
