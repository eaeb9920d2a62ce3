package org.saeforge.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.saeforge.core.data.ActivationSource;
import org.saeforge.core.data.ActivationSources;
import org.saeforge.core.kernels.Device;
import org.saeforge.core.model.Architecture;
import org.saeforge.core.model.SparseAutoencoder;
import org.saeforge.train.synth.SyntheticData;

/**
 * The CPU backend's results do not depend on the thread count (README, "Kernels"): every architecture trained with 1
 * and with 3 workers ends with the same weights bit for bit. The odd widths put the workers' range boundaries of the
 * element-wise kernels (dense Adam) off the vector boundaries.
 */
class ThreadCountTest {
    @TempDir
    static Path tmp;
    static Path data;

    @BeforeAll
    static void makeData() {
        data = tmp.resolve("acts.npy");
        new SyntheticData(37, 80, 4, 3).write(data, 6_000);
    }

    static SparseAutoencoder train(Architecture arch, int threads) {
        TrainConfig c = new TrainConfig.Builder().architecture(arch).numLatents(101).k(arch == Architecture.RELU ? 0 : 5)
                .batchSize(128).tokens(128 * 30).evalRows(500).device(Device.CPU).threads(threads).checkpointEvery(0)
                .logEvery(0).seed(5).build();
        try (ActivationSource src = ActivationSources.open(data)) {
            return new Trainer(c, null).train(src, tmp.resolve(arch.cliName() + "-" + threads), null, Map.of()).sae();
        }
    }

    @ParameterizedTest
    @EnumSource(Architecture.class)
    void weightsAreTheSameForOneAndThreeWorkers(Architecture arch) {
        SparseAutoencoder one = train(arch, 1);
        SparseAutoencoder three = train(arch, 3);
        assertArrayEquals(one.wEncT().data(), three.wEncT().data(), arch + " encoder");
        assertArrayEquals(one.bEnc(), three.bEnc(), arch + " encoder bias");
        assertArrayEquals(one.wDec().data(), three.wDec().data(), arch + " decoder");
        assertArrayEquals(one.bDec(), three.bDec(), arch + " decoder bias");
        assertArrayEquals(one.threshold(), three.threshold(), arch + " thresholds");
    }
}
