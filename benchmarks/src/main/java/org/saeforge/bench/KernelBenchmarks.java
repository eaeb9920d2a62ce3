package org.saeforge.bench;

import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;
import org.openjdk.jmh.infra.Blackhole;
import org.saeforge.core.kernels.AdamStep;
import org.saeforge.core.kernels.Device;
import org.saeforge.core.kernels.Kernels;
import org.saeforge.core.kernels.KernelsFactory;
import org.saeforge.core.model.SaeConfig;
import org.saeforge.core.model.SparseAutoencoder;
import org.saeforge.core.tensor.FloatMatrix;
import org.saeforge.core.tensor.SparseCodes;
import org.saeforge.train.Initializer;

/**
 * One benchmark per kernel family of a TopK training step, over shapes and backends. The reference backend is the
 * oracle, far slower by design: run it on small shapes only (see benchmarks/run-cpu.sh).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 2, time = 2)
@Measurement(iterations = 3, time = 2)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED"})
public class KernelBenchmarks {

    @Param({"768", "512", "1024"})
    int dIn;

    @Param({"16384", "8192", "32768"})
    int numLatents;

    @Param({"32", "16", "64"})
    int k;

    @Param({"4096", "1024"})
    int batch;

    @Param({"cpu", "cpu-ref"})
    String backend;

    @Param({"2"})
    int threads;

    Kernels kernels;
    SparseAutoencoder sae;
    FloatMatrix x;
    FloatMatrix xHat;
    SparseCodes codes;
    float[] dValues;
    FloatMatrix gradW;
    float[] gradB;
    float[] m;
    float[] v;
    long step;

    @Setup(Level.Trial)
    public void setUp() {
        kernels = KernelsFactory.create(Device.fromCliName(backend), threads);
        x = FloatMatrix.random(batch, dIn, 1, 1f);
        sae = Initializer.init(SaeConfig.topK(dIn, numLatents, k), x, 0);
        codes = SparseCodes.fixedK(batch, numLatents, k);
        kernels.encode(x, sae, codes, null);
        xHat = new FloatMatrix(batch, dIn);
        dValues = new float[batch * k];
        gradW = FloatMatrix.random(numLatents, dIn, 2, 1e-3f);
        gradB = new float[numLatents];
        m = new float[numLatents * dIn];
        v = new float[numLatents * dIn];
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        kernels.close();
    }

    /** Encoder GEMM + bias + top-k selection. */
    @Benchmark
    public void encodeTopK(Blackhole bh) {
        kernels.encode(x, sae, codes, null);
        bh.consume(codes.values()[0]);
    }

    /** Sparse decode x̂ = z·wDec + bDec. */
    @Benchmark
    public void decode(Blackhole bh) {
        kernels.decode(codes, sae.wDec(), sae.bDec(), xHat);
        bh.consume(xHat.data()[0]);
    }

    /** The sparse backward: latent gradients, decoder and encoder gradient scatters. */
    @Benchmark
    public void backward(Blackhole bh) {
        kernels.gatherDots(codes, x, sae.wDec(), dValues);
        kernels.scatterOuter(codes, codes.values(), x, null, gradW, null);
        kernels.scatterOuter(codes, dValues, x, sae.bDec(), gradW, gradB);
        bh.consume(gradB[0]);
    }

    /** Decoder constraint and Adam over the decoder matrix (the encoder's Adam update costs the same again). */
    @Benchmark
    public void adamAndRenorm(Blackhole bh) {
        kernels.removeParallelComponent(sae.wDec(), gradW);
        kernels.adam(sae.wDec().data(), gradW.data(), m, v, numLatents * dIn, AdamStep.of(1e-5f, ++step));
        kernels.normalizeRows(sae.wDec());
        bh.consume(sae.wDec().data()[0]);
    }
}
