import java.util.Arrays;

/**
 * sgemm GFLOP/s of ND4J ({@code Nd4j.gemm} into preallocated arrays) for [4096 x 768]·[768 x 16384]. Not part of the
 * build: run.sh runs it as a single-file program against ND4J's class path. Prints one JSON line.
 *
 * <p>Usage: {@code java BlasChoiceNd4j.java THREADS REPS}
 */
public class BlasChoiceNd4j {
    public static void main(String[] args) {
        int threads = Integer.parseInt(args[0]);
        int reps = Integer.parseInt(args[1]);
        int m = 4096, k = 768, n = 16384;
        double flops = 2.0 * m * k * n;
        double[] rates = new double[reps];
        var dt = org.nd4j.linalg.api.buffer.DataType.FLOAT;
        var a = org.nd4j.linalg.factory.Nd4j.rand(dt, m, k);
        var b = org.nd4j.linalg.factory.Nd4j.rand(dt, k, n);
        var c = org.nd4j.linalg.factory.Nd4j.zeros(dt, m, n);
        org.nd4j.linalg.factory.Nd4j.gemm(a, b, c, false, false, 1.0, 0.0);
        for (int r = 0; r < reps; r++) {
            long t0 = System.nanoTime();
            org.nd4j.linalg.factory.Nd4j.gemm(a, b, c, false, false, 1.0, 0.0);
            rates[r] = flops / ((System.nanoTime() - t0) / 1e9) / 1e9;
        }
        Arrays.sort(rates);
        System.out.printf("{\"library\":\"nd4j\",\"threads\":%d,\"gflops_median\":%.1f,\"gflops_max\":%.1f}%n", threads,
                rates[reps / 2], rates[reps - 1]);
    }
}
