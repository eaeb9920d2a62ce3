package org.saeforge.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDate;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.SplittableRandom;
import org.saeforge.core.SaeException;
import org.saeforge.core.io.AtomicFiles;
import org.saeforge.core.io.Json;
import org.saeforge.core.kernels.AdamStep;
import org.saeforge.core.kernels.cuda.AdamKernels;
import org.saeforge.core.kernels.cuda.AuxKKernels;
import org.saeforge.core.kernels.cuda.BackwardKernels;
import org.saeforge.core.kernels.cuda.CudaContext;
import org.saeforge.core.kernels.cuda.DecodeKernels;
import org.saeforge.core.kernels.cuda.DeviceBuffer;
import org.saeforge.core.kernels.cuda.EncoderKernels;
import org.saeforge.core.kernels.cuda.GemmPrecision;
import org.saeforge.core.kernels.cuda.LaunchMath;
import org.saeforge.core.kernels.cuda.MetricKernels;
import org.saeforge.core.kernels.cuda.Workspace;

/**
 * Per-kernel GPU benchmark at the training shape (default dIn 1024, 65,536 latents, k 32, batch 8192): the median of
 * many launches timed with CUDA events, each kernel's achieved TFLOP/s or GB/s, and its floor (flops over the
 * matmul rate PyTorch measured in the same run, or bytes over the measured copy bandwidth). Also checks, at full
 * size, that the fused top-k equals the dense path bit for bit. Writes one JSON file.
 *
 * <p>Usage: {@code GpuKernelBench --torch torch-baseline.json --out gpu-kernels-DATE.json [--dIn N] [--numLatents N]
 * [--k N] [--batch N] [--reps N]}. Run by {@code benchmarks/gpu/run.sh} on the GPU machine.
 */
public final class GpuKernelBench {
    private final CudaContext ctx;
    private final Workspace ws;
    private final int reps;
    private final double bf16Rate;
    private final double tf32Rate;
    private final double fp32Rate;
    private final double copyRate;
    private final List<ObjectNode> rows = new ArrayList<>();

    private GpuKernelBench(CudaContext ctx, int reps, JsonNode torch) {
        this.ctx = ctx;
        this.ws = new Workspace(ctx);
        this.reps = reps;
        this.bf16Rate = rate(torch, "bf16_tflops") * 1e12;
        this.tf32Rate = rate(torch, "tf32_tflops") * 1e12;
        this.fp32Rate = rate(torch, "fp32_tflops") * 1e12;
        this.copyRate = rate(torch, "copy_gbps") * 1e9;
    }

    private static double rate(JsonNode torch, String field) {
        JsonNode v = torch == null ? null : torch.get(field);
        return v == null || !v.isNumber() ? Double.NaN : v.asDouble();
    }

    public static void main(String[] args) {
        try {
            run(args);
        } catch (SaeException e) {
            System.err.println("GpuKernelBench: " + e.getMessage());
            System.exit(e.exitCode());
        }
    }

    private static void run(String[] args) {
        Path out = null;
        Path torchFile = null;
        int dIn = 1024;
        int numLatents = 65_536;
        int k = 32;
        int batch = 8192;
        int reps = 30;
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            if (i + 1 >= args.length) {
                throw new SaeException("GpuKernelBench: option " + a + " needs a value");
            }
            String v = args[++i];
            switch (a) {
                case "--out": out = Path.of(v); break;
                case "--torch": torchFile = Path.of(v); break;
                case "--dIn": dIn = Integer.parseInt(v); break;
                case "--numLatents": numLatents = Integer.parseInt(v); break;
                case "--k": k = Integer.parseInt(v); break;
                case "--batch": batch = Integer.parseInt(v); break;
                case "--reps": reps = Integer.parseInt(v); break;
                default: throw new SaeException("GpuKernelBench: unknown option " + a);
            }
        }
        if (out == null) {
            throw new SaeException("GpuKernelBench: --out FILE is required");
        }
        JsonNode torch = torchFile != null && Files.exists(torchFile) ? Json.read(torchFile) : null;
        try (CudaContext ctx = CudaContext.open(0, false)) {
            GpuKernelBench bench = new GpuKernelBench(ctx, reps, torch);
            try {
                ObjectNode result = bench.run(dIn, numLatents, k, batch);
                result.set("torch", torch == null ? Json.object() : torch);
                AtomicFiles.writeString(out, Json.pretty(result) + "\n");
                bench.printTable(result);
            } finally {
                bench.ws.close();
            }
        }
    }

    private ObjectNode run(int dIn, int n, int k, int m) {
        int ld = LaunchMath.paddedLd(dIn);
        EncoderKernels enc = new EncoderKernels(ctx);
        DecodeKernels dec = new DecodeKernels(ctx);
        BackwardKernels bwd = new BackwardKernels(ctx);
        AuxKKernels auxk = new AuxKKernels(ctx);
        AdamKernels adam = new AdamKernels(ctx);
        MetricKernels metrics = new MetricKernels(ctx);
        long t0 = System.nanoTime();

        DeviceBuffer x = upload("x", m, dIn, ld, 1, 1f);
        DeviceBuffer w = upload("wEncT", n, dIn, ld, 2, (float) (1 / Math.sqrt(dIn)));
        DeviceBuffer wDec = upload("wDec", n, dIn, ld, 3, (float) (1 / Math.sqrt(dIn)));
        DeviceBuffer bEnc = upload("bEnc", 1, n, n, 4, 0.1f);
        DeviceBuffer bDec = upload("bDec", 1, dIn, ld, 5, 0.1f);
        DeviceBuffer xc16 = ws.get("xc16", 2L * m * ld);
        DeviceBuffer xc32 = ws.get("xc32", 4L * m * ld);
        DeviceBuffer w16 = ws.get("w16", 2L * n * ld);
        long setupMs = (System.nanoTime() - t0) / 1_000_000;

        long nx = (long) m * ld;
        long nw = (long) n * ld;
        double gemmFlops = 2.0 * m * n * dIn;
        time("prep_input_bf16", () -> enc.prepareInput(x, bDec, m, ld, GemmPrecision.BF16, xc16), 0, nx * 6, null);
        time("prep_input_f32", () -> enc.prepareInput(x, bDec, m, ld, GemmPrecision.TF32, xc32), 0, nx * 8, null);
        time("convert_bf16 (wEncT)", () -> enc.convertToBf16(w, nw, w16), 0, nw * 6, null);

        DeviceBuffer pre = ws.get("pre", 4L * m * n);
        time("gemm_store_bf16 (dense pre)", () -> enc.gemmStore(GemmPrecision.BF16, xc16, w16, bEnc, m, n, ld, pre, n),
                gemmFlops, 4L * m * n, GemmPrecision.BF16);
        time("gemm_store_tf32 (dense pre)", () -> enc.gemmStore(GemmPrecision.TF32, xc32, w, bEnc, m, n, ld, pre, n),
                gemmFlops, 4L * m * n, GemmPrecision.TF32);

        DeviceBuffer idx = ws.get("codes.idx", 4L * m * k);
        DeviceBuffer val = ws.get("codes.val", 4L * m * k);
        ObjectNode checks = Json.object();
        for (GemmPrecision p : new GemmPrecision[] {GemmPrecision.BF16, GemmPrecision.TF32}) {
            DeviceBuffer a = p == GemmPrecision.BF16 ? xc16 : xc32;
            DeviceBuffer b = p == GemmPrecision.BF16 ? w16 : w;
            LaunchMath.TopKPlan plan = enc.planTopK(p, m, n, k);
            long cands = (long) m * plan.candidatesPerRow();
            DeviceBuffer ck = ws.get("ck", 4 * cands);
            DeviceBuffer ci = ws.get("ci", 4 * cands);
            ObjectNode row = time("gemm_topk" + plan.listCapacity() + "_" + p.suffix() + " (fused, " + plan.chunks()
                    + " chunks)", () -> enc.gemmTopK(p, plan, a, b, bEnc, ld, ck, ci), gemmFlops, cands * 8, p);
            row.put("tiles_per_chunk", plan.tilesPerChunk());
            row.put("registers", ctx.registers(ctx.function("encode", "gemm_topk" + plan.listCapacity() + "_" + p.suffix())));
            time("topk_rows_keys (merge " + plan.candidatesPerRow() + " -> " + k + ", " + p.suffix() + ")",
                    () -> enc.topKCandidates(ck, ci, plan.candidatesPerRow(), m, plan.candidatesPerRow(), k, null, true,
                            idx, val, k), 0, cands * 8 + (long) m * k * 8, null);
            time("encoder top-k total (" + p.suffix() + ")",
                    () -> enc.selectTopK(p, a, b, bEnc, m, n, ld, k, null, idx, val, ws), gemmFlops, (long) m * k * 8, p);
            checks.put("fused_equals_dense_" + p.suffix(), fusedEqualsDense(enc, p, a, b, bEnc, m, n, ld, k));
        }
        // The fallback for k > 64: dense chunks and the row-wise radix select.
        int kBig = Math.min(4 * k, Math.min(n, LaunchMath.TOPK_SORT_MAX));
        if (kBig > LaunchMath.TOPK_FUSED_MAX) {
            DeviceBuffer bi = ws.get("big.idx", 4L * m * kBig);
            DeviceBuffer bv = ws.get("big.val", 4L * m * kBig);
            time("topk_rows_f32 (dense rows, k=" + kBig + ")", () -> enc.topKRows(pre, n, m, n, kBig, null, true, bi, bv, kBig),
                    0, 4L * m * n, null);
            time("encoder top-k total (bf16, dense fallback, k=" + kBig + ")",
                    () -> enc.selectTopK(GemmPrecision.BF16, xc16, w16, bEnc, m, n, ld, kBig, null, bi, bv, ws), gemmFlops,
                    (long) m * kBig * 8, GemmPrecision.BF16);
        }
        enc.selectTopK(GemmPrecision.BF16, xc16, w16, bEnc, m, n, ld, k, null, idx, val, ws);
        int nnz = m * k;
        int[] hostIdx = new int[nnz];
        idx.download(0, hostIdx, 0, nnz);
        long unique = Arrays.stream(hostIdx).distinct().count();
        long uniqueRows = unique * ld * 4;

        DeviceBuffer xHat = ws.get("xHat", 4 * nx);
        time("sparse_decode", () -> dec.decode(null, k, idx, val, m, nnz, wDec, n, ld, bDec, xHat), 0,
                (long) nnz * 8 + nx * 4 + uniqueRows, null);
        DeviceBuffer grad = ws.get("grad", 4 * nx);
        time("residual_sse (+gradient)", () -> metrics.sumSquaredError(x, xHat, nx, 1e-3f, grad, ws), 0, nx * 12, null);
        time("total variance (2 x column_moments)", () -> metrics.totalVariance(x, m, ld, ws), 0, nx * 4, null);
        DeviceBuffer dValues = ws.get("dValues", 4L * nnz);
        time("gather_dots", () -> bwd.gatherDots(null, k, idx, nnz, grad, m, wDec, n, ld, dValues), 0,
                (long) nnz * 8 + nx * 4 + uniqueRows, null);
        time("group_by_latent (bitonic sort + bounds)", () -> bwd.groupByLatent(idx, nnz, n, ws), 0,
                (long) nnz * 12 + 8L * n, null);
        BackwardKernels.LatentGroups groups = bwd.groupByLatent(idx, nnz, n, ws);
        DeviceBuffer dW = ws.get("dW", 4 * nw);
        dW.zero(4 * nw);
        DeviceBuffer dB = ws.get("dBias", 4L * n);
        dB.zero(4L * n);
        time("scatter_outer (decoder gradient)", () -> bwd.scatterOuter(groups, null, k, val, grad, m, null, ld, dW, null),
                0, (long) nnz * 12 + nx * 4 + 2 * uniqueRows, null);
        time("scatter_outer (encoder gradient, shift + bias)",
                () -> bwd.scatterOuter(groups, null, k, dValues, x, m, bDec, ld, dW, dB), 0,
                (long) nnz * 12 + nx * 4 + 2 * uniqueRows + 8L * unique, null);
        DeviceBuffer fired = ws.get("fired", 4L * n);
        fired.zero(4L * n);
        time("code_stats (L0, firing counts)", () -> metrics.codeStats(idx, val, nnz, fired, null, n, ws), 0,
                (long) nnz * 8 + 8L * unique, null);

        int numDead = Math.max(1, n / 10);
        int kAux = Math.min(numDead, Math.min(LaunchMath.TOPK_SORT_MAX, dIn / 2));
        int[] dead = new int[numDead];
        for (int j = 0; j < numDead; j++) {
            dead[j] = j * 10;
        }
        DeviceBuffer deadIds = ws.get("deadIds", 4L * numDead);
        deadIds.upload(dead, 0, numDead, 0);
        DeviceBuffer wDead = ws.get("wDead", 4L * numDead * ld);
        DeviceBuffer wDead16 = ws.get("wDead16", 2L * numDead * ld);
        DeviceBuffer bDead = ws.get("bDead", 4L * numDead);
        time("auxk gather_rows (" + numDead + " dead)", () -> auxk.gatherRows(w, n, ld, deadIds, numDead, wDead), 0,
                8L * numDead * ld, null);
        auxk.gatherValues(bEnc, deadIds, numDead, bDead);
        enc.convertToBf16(wDead, (long) numDead * ld, wDead16);
        DeviceBuffer ai = ws.get("aux.idx", 4L * m * kAux);
        DeviceBuffer av = ws.get("aux.val", 4L * m * kAux);
        time("auxk top-" + kAux + " over " + numDead + " dead (bf16)",
                () -> enc.selectTopK(GemmPrecision.BF16, xc16, wDead16, bDead, m, numDead, ld, kAux, deadIds, ai, av, ws),
                2.0 * m * numDead * dIn, (long) m * kAux * 8, GemmPrecision.BF16);
        time("auxk_residual", () -> auxk.residual(x, xHat, xHat, nx, 1e-3f, grad, ws), 0, nx * 16, null);

        DeviceBuffer mom1 = ws.get("m", 4 * nw);
        DeviceBuffer mom2 = ws.get("v", 4 * nw);
        mom1.zero(4 * nw);
        mom2.zero(4 * nw);
        DeviceBuffer g = ws.get("g", 4 * nw);
        g.fill32(Float.floatToIntBits(1e-3f), nw);
        AdamStep hp = AdamStep.of(1e-4f, 10);
        time("adam_step (wEncT)", () -> adam.step(w, g, mom1, mom2, nw, hp, null), 0, nw * 28, null);
        time("adam_step (wEncT, + bf16 copy)", () -> adam.step(w, g, mom1, mom2, nw, hp, w16), 0, nw * 30, null);
        time("adam_decoder_rows (fused decoder step)", () -> adam.decoderStep(wDec, g, mom1, mom2, n, ld, hp), 0, nw * 32,
                null);
        time("remove_parallel", () -> adam.removeParallel(wDec, g, n, ld), 0, nw * 12, null);
        time("normalize_rows", () -> adam.normalizeRows(wDec, n, ld), 0, nw * 8, null);

        ObjectNode result = Json.object();
        result.put("date", LocalDate.now(ZoneOffset.UTC).toString());
        ObjectNode device = result.putObject("device");
        device.put("name", ctx.deviceName());
        device.put("compute_capability", ctx.computeCapability());
        device.put("multiprocessors", ctx.multiprocessors());
        device.put("memory_mib", ctx.totalMemory() >> 20);
        device.put("driver_version", ctx.driverVersion());
        device.put("encoder_kernels", ctx.encoderKernels());
        ObjectNode shape = result.putObject("shape");
        shape.put("dIn", dIn);
        shape.put("numLatents", n);
        shape.put("k", k);
        shape.put("batchSize", m);
        shape.put("unique_latents_in_codes", unique);
        result.put("reps_per_kernel", reps);
        result.put("setup_ms", setupMs);
        result.put("launches", ctx.launches());
        result.set("checks", checks);
        ArrayNode kernels = result.putArray("kernels");
        rows.forEach(kernels::add);
        return result;
    }

    /** Whether the fused top-k of every row equals the dense GEMM + row top-k (same arithmetic, so exactly). */
    private String fusedEqualsDense(EncoderKernels enc, GemmPrecision p, DeviceBuffer a, DeviceBuffer b, DeviceBuffer bias,
                                    int m, int n, int ld, int k) {
        DeviceBuffer fi = ws.get("chk.fi", 4L * m * k);
        DeviceBuffer fv = ws.get("chk.fv", 4L * m * k);
        enc.selectTopK(p, a, b, bias, m, n, ld, k, null, fi, fv, ws);
        DeviceBuffer pre = ws.get("pre", 4L * m * n);
        enc.gemmStore(p, a, b, bias, m, n, ld, pre, n);
        DeviceBuffer di = ws.get("chk.di", 4L * m * k);
        DeviceBuffer dv = ws.get("chk.dv", 4L * m * k);
        enc.topKRows(pre, n, m, n, k, null, true, di, dv, k);
        int[] i1 = new int[m * k];
        int[] i2 = new int[m * k];
        float[] v1 = new float[m * k];
        float[] v2 = new float[m * k];
        fi.download(0, i1, 0, m * k);
        di.download(0, i2, 0, m * k);
        fv.download(0, v1, 0, m * k);
        dv.download(0, v2, 0, m * k);
        int badRows = 0;
        for (int r = 0; r < m; r++) {
            if (!Arrays.equals(i1, r * k, (r + 1) * k, i2, r * k, (r + 1) * k)
                    || !Arrays.equals(v1, r * k, (r + 1) * k, v2, r * k, (r + 1) * k)) {
                badRows++;
            }
        }
        Set<Integer> distinct = new HashSet<>();
        for (int r = 0; r < Math.min(m, 4); r++) {
            distinct.clear();
            for (int e = 0; e < k; e++) {
                distinct.add(i1[r * k + e]);
            }
            if (distinct.size() != k) {
                return "row " + r + " repeats a latent";
            }
        }
        return badRows == 0 ? "equal on all " + m + " rows" : "DIFFERENT on " + badRows + " of " + m + " rows";
    }

    private DeviceBuffer upload(String name, int rows, int cols, int ld, long seed, float scale) {
        float[] host = new float[rows * cols];
        SplittableRandom rnd = new SplittableRandom(seed);
        for (int i = 0; i < host.length; i++) {
            host[i] = (float) ((rnd.nextDouble() * 2 - 1) * scale);
        }
        DeviceBuffer b = ws.get(name, 4L * rows * ld);
        b.uploadRows(host, 0, rows, cols, ld);
        return b;
    }

    /** Times work: warm-up, then {@code reps} event-timed runs; records median/min/p90 and the rates and floor. */
    private ObjectNode time(String name, Runnable work, double flops, long bytes, GemmPrecision matmulPath) {
        for (int i = 0; i < 3; i++) {
            work.run();
        }
        ctx.synchronize();
        float[] ms = new float[reps];
        for (int i = 0; i < reps; i++) {
            ms[i] = ctx.time(work);
        }
        Arrays.sort(ms);
        double median = ms[reps / 2];
        ObjectNode row = Json.object();
        row.put("kernel", name);
        row.put("median_ms", median);
        row.put("min_ms", ms[0]);
        row.put("p90_ms", ms[Math.min(reps - 1, (int) Math.ceil(reps * 0.9) - 1)]);
        row.put("bytes", bytes);
        double s = median / 1e3;
        row.put("gbps", bytes / s / 1e9);
        double floorBytes = bytes / copyRate;
        double floor = floorBytes;
        String kind = "bytes / copy bandwidth";
        if (flops > 0) {
            row.put("flops", flops);
            row.put("tflops", flops / s / 1e12);
            double r = matmulPath == GemmPrecision.BF16 ? bf16Rate : matmulPath == GemmPrecision.TF32 ? tf32Rate : fp32Rate;
            double floorFlops = flops / r;
            if (!(floorFlops < floor)) {
                floor = floorFlops;
                kind = "flops / torch " + (matmulPath == null ? "fp32" : matmulPath.suffix()) + " matmul rate";
            }
            row.put("fraction_of_matmul_rate", (flops / s) / r);
        } else {
            row.put("fraction_of_copy_bandwidth", (bytes / s) / copyRate);
        }
        row.put("floor_ms", floor * 1e3);
        row.put("floor", kind);
        row.put("time_over_floor", median / (floor * 1e3));
        rows.add(row);
        System.err.printf(Locale.ROOT, "%-60s %9.3f ms%n", name, median);
        return row;
    }

    private void printTable(ObjectNode result) {
        System.out.printf(Locale.ROOT, "%n%s, %s%n", result.get("device").get("name").asText(), result.get("shape"));
        System.out.printf(Locale.ROOT, "%-60s %10s %9s %9s %10s %8s%n", "kernel", "median ms", "TFLOP/s", "GB/s", "floor ms",
                "x floor");
        for (JsonNode r : result.get("kernels")) {
            System.out.printf(Locale.ROOT, "%-60s %10.3f %9s %9.0f %10.3f %8.2f%n", r.get("kernel").asText(),
                    r.get("median_ms").asDouble(), r.has("tflops") ? String.format(Locale.ROOT, "%.1f", r.get("tflops").asDouble()) : "",
                    r.get("gbps").asDouble(), r.get("floor_ms").asDouble(), r.get("time_over_floor").asDouble());
        }
        System.out.println("checks: " + result.get("checks"));
    }
}
