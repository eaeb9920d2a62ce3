package org.saeforge.train;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.BufferedWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.saeforge.core.SaeException;
import org.saeforge.core.data.ActivationSource;
import org.saeforge.core.data.BatchStream;
import org.saeforge.core.data.HeldOutSplit;
import org.saeforge.core.io.Json;
import org.saeforge.core.kernels.Kernels;
import org.saeforge.core.kernels.device.BatchFeed;
import org.saeforge.core.kernels.device.DeviceMemoryPlan;
import org.saeforge.core.kernels.device.TopKDeviceModel;
import org.saeforge.core.kernels.device.TrainDevice;
import org.saeforge.core.model.SparseAutoencoder;
import org.saeforge.core.tensor.FloatMatrix;

/**
 * The training loop of TopK SAEs whose state lives on a device ({@link TopKDeviceModel} on a {@link TrainDevice}, the
 * GPU): batches arrive through a {@link BatchFeed} in the order of the CPU trainer's {@link BatchStream} for the same
 * seed; only the metrics of logged steps and the checkpoints come back to the host. Initialisation, schedules,
 * checkpoint format and cadence, metrics and resume are those of the CPU loop in {@link Trainer}, so a run started on
 * one backend resumes on the other.
 */
final class DeviceLoop {

    /** Opens the device and the batch feed of a device-resident run. */
    interface Backend {
        /** Whether this backend trains with these kernels (CUDA: when they are the CUDA backend). */
        boolean applies(Kernels kernels);

        TrainDevice open(Kernels kernels, TrainConfig shared);

        /** The device memory the feed will allocate for batches of {@code rows} rows of this source. */
        DeviceMemoryPlan feedPlan(TrainDevice dev, ActivationSource source, int rows);

        /** The {@code batches} batches of the run after the first {@code skipBatches} (skipped on resume). */
        BatchFeed feed(TrainDevice dev, ActivationSource source, HeldOutSplit split, long seed, BatchStream.Options options, int rows,
                       long skipBatches, long batches);
    }

    /** The GPU: {@code CudaTrainDevice} and its pinned, double-buffered input pipeline. */
    static final Backend CUDA = new Backend() {
        @Override
        public boolean applies(Kernels kernels) {
            return "cuda".equals(kernels.name());
        }

        @Override
        public TrainDevice open(Kernels kernels, TrainConfig shared) {
            return org.saeforge.core.kernels.cuda.CudaTrainDevice.open(kernels, shared.gemmPrecision());
        }

        @Override
        public DeviceMemoryPlan feedPlan(TrainDevice dev, ActivationSource source, int rows) {
            return org.saeforge.core.kernels.cuda.CudaBatchFeed.plan(dev, source, rows);
        }

        @Override
        public BatchFeed feed(TrainDevice dev, ActivationSource source, HeldOutSplit split, long seed, BatchStream.Options options, int rows,
                              long skipBatches, long batches) {
            return org.saeforge.core.kernels.cuda.CudaBatchFeed.open(dev, source, split, seed, options, rows, skipBatches, batches);
        }
    };

    /**
     * What a device-resident run reports in run.json: the device, its memory plan, the phases of a step (median device
     * milliseconds over the logged steps) and how long the loop waited for input rows.
     */
    record Report(String device, String gemmPrecision, String encoderKernels, long plannedBytes, String planSummary, long allocatedBytes, double[] phaseMedianMs,
                  int profiledSteps, double inputWaitSeconds, long steps, int batchRows, int dIn, int numLatents) {

        /** Encoder GEMM + top-k selection rate in TFLOP/s (2·batch·dIn·numLatents per step over the median encoder time). */
        double encoderTflops() {
            double ms = phaseMedianMs[0];
            return ms > 0 ? 2.0 * batchRows * dIn * (double) numLatents / (ms * 1e-3) / 1e12 : Double.NaN;
        }

        ObjectNode toJson() {
            ObjectNode o = Json.object();
            o.put("device", device);
            o.put("gemm_precision", gemmPrecision);
            o.put("encoder_kernels", encoderKernels);
            o.put("memory_planned_bytes", plannedBytes);
            o.put("memory_plan", planSummary);
            o.put("memory_allocated_bytes", allocatedBytes);
            ObjectNode phases = o.putObject("phase_median_ms");
            for (int i = 0; i < phaseMedianMs.length; i++) {
                phases.put(TopKDeviceModel.PHASES[i], phaseMedianMs[i]);
            }
            o.put("profiled_steps", profiledSteps);
            o.put("encoder_tflops", encoderTflops());
            o.put("input_wait_seconds", inputWaitSeconds);
            return o;
        }
    }

    private final List<TrainConfig> configs;
    private final List<String> names;
    private final TrainListener listener;

    DeviceLoop(List<TrainConfig> configs, List<String> names, TrainListener listener) {
        this.configs = configs;
        this.names = names;
        this.listener = listener;
    }

    Trainer.Loop run(Backend backend, Kernels kernels, String backendName, ActivationSource source, HeldOutSplit split,
                     BatchStream.Options options, Path outDir, Map<String, Object> meta, Checkpoint.Loaded resume) {
        TrainConfig shared = configs.get(0);
        int dIn = source.dIn();
        int b = shared.batchSize();
        long steps = shared.steps();
        try (TrainDevice dev = backend.open(kernels, shared)) {
            List<TopKDeviceModel.Shape> shapes = new ArrayList<>();
            DeviceMemoryPlan plan = new DeviceMemoryPlan();
            int ld = dev.ld(dIn);
            int kMax = 1;
            int kAuxMax = 0;
            int n = 1;
            for (TrainConfig c : configs) {
                TopKDeviceModel.Shape s = new TopKDeviceModel.Shape(dIn, c.numLatents(), b, c.maxK(), c.effectiveKAux(dIn), c.auxKCoef(),
                        c.effectiveDeadAfter(), c.effectiveReviveAfter());
                if (s.kMax() > dev.maxK() || s.auxKCoef() > 0 && s.kAuxMax() > dev.maxK()) {
                    throw new SaeException("--device cuda selects at most " + dev.maxK() + " latents per row; got k=" + s.kMax() + ", k-aux="
                            + s.kAuxMax() + " (lower --k or --k-aux)");
                }
                shapes.add(s);
                plan.addAll(TopKDeviceModel.plan(s, ld, dev.operandBytes()));
                kMax = Math.max(kMax, s.kMax());
                kAuxMax = Math.max(kAuxMax, s.auxKCoef() > 0 ? s.kAuxMax() : 0);
                n = Math.max(n, s.numLatents());
            }
            plan.addAll(dev.scratchPlan(b, n, ld, kMax, kAuxMax));
            plan.addAll(backend.feedPlan(dev, source, b));
            long[] mem = dev.memoryInfo();
            listener.onInfo("device memory: " + dev.description() + " needs " + plan.summary() + "; " + DeviceMemoryPlan.size(mem[0])
                    + " free of " + DeviceMemoryPlan.size(mem[1]));
            plan.requireFits(dev.description(), mem[0], mem[1]);

            List<TopKDeviceModel> models = new ArrayList<>();
            for (TopKDeviceModel.Shape s : shapes) {
                models.add(new TopKDeviceModel(dev, s));
            }
            dev.reserveScratch(b, n, ld, kMax, kAuxMax);
            long startStep = resume == null ? 0 : resume.run().step();
            double secondsBefore = resume == null ? 0 : resume.run().trainSeconds();
            List<SparseAutoencoder> saes = new ArrayList<>();
            try (BatchFeed feed = backend.feed(dev, source, split, shared.seed(), options, b, startStep, steps - startStep)) {
                listener.onStart(steps, steps * b, Trainer.describe(configs, names, source, split, backendName, resume));
                if (resume == null) {
                    feed.next();
                    FloatMatrix first = hostRows(source, feed.rowIds(), options.scale());
                    for (int i = 0; i < configs.size(); i++) {
                        SparseAutoencoder sae = Initializer.init(Member.saeConfig(configs.get(i), dIn, meta), first, configs.get(i).seed(),
                                configs.get(i).initThreshold());
                        models.get(i).load(sae, null, null, 0, null, null);
                        saes.add(sae);
                    }
                } else {
                    for (int i = 0; i < configs.size(); i++) {
                        TrainConfig c = configs.get(i);
                        Checkpoint.MemberState st = Checkpoint.read(resume, resume.members().get(i), c, Member.saeConfig(c, dIn, meta), 4, false);
                        models.get(i).load(st.sae(), st.adamM(), st.adamV(), st.adamSteps(), st.sinceSelected(), st.sincePositive());
                        saes.add(st.sae());
                    }
                }
                Steps loop = new Steps(dev, models, saes, feed, source, options, outDir, split.requestedRows());
                double seconds = loop.run(startStep, steps, secondsBefore, resume != null);
                for (int i = 0; i < models.size(); i++) {
                    models.get(i).store(saes.get(i), null, null, null, null);
                }
                Report report = new Report(dev.description(), shared.gemmPrecision().suffix(), dev.encoderKernels(), plan.total(), plan.summary(),
                        dev.allocatedBytes(), loop.phaseMedians(), loop.profiled, feed.waitSeconds(), steps, b, dIn, shapes.get(0).numLatents());
                listener.onInfo(String.format(java.util.Locale.ROOT, "device: %s, %s encoder (%s) %.3f ms/step (%.1f TFLOP/s), backward %.3f ms, "
                        + "Adam %.3f ms; waited %.2f s for input rows", report.device(), report.gemmPrecision(), report.encoderKernels(),
                        report.phaseMedianMs()[0],
                        report.encoderTflops(), report.phaseMedianMs()[2], report.phaseMedianMs()[3], report.inputWaitSeconds()));
                return new Trainer.Loop(configs, saes, seconds, feed.badRows(), feed.normDropped(), report, null);
            }
        }
    }

    /** The batch rows as the CPU stream serves them: read as float32, times the scale (to initialise from). */
    static FloatMatrix hostRows(ActivationSource source, long[] ids, float scale) {
        int d = source.dIn();
        FloatMatrix m = new FloatMatrix(ids.length, d);
        float[] out = m.data();
        for (int r = 0; r < ids.length; r++) {
            source.readRows(ids[r], 1, out, r * d);
        }
        if (scale != 1f) {
            for (int i = 0; i < out.length; i++) {
                out[i] *= scale;
            }
        }
        return m;
    }

    /** The step loop proper, with what it needs at hand. */
    private final class Steps {
        private final TrainDevice dev;
        private final List<TopKDeviceModel> models;
        private final List<SparseAutoencoder> saes;
        private final BatchFeed feed;
        private final ActivationSource source;
        private final BatchStream.Options options;
        private final Path outDir;
        private final long heldOutRows;
        private final List<LrSchedule> schedules = new ArrayList<>();
        private final List<double[]> phaseSamples = new ArrayList<>();
        private float[][][] hostM;
        private float[][][] hostV;
        private long[][] hostSince;
        private long[][] hostSincePositive;
        private int profiled;

        Steps(TrainDevice dev, List<TopKDeviceModel> models, List<SparseAutoencoder> saes, BatchFeed feed, ActivationSource source,
              BatchStream.Options options, Path outDir, long heldOutRows) {
            this.dev = dev;
            this.models = models;
            this.saes = saes;
            this.feed = feed;
            this.source = source;
            this.options = options;
            this.outDir = outDir;
            this.heldOutRows = heldOutRows;
            for (TrainConfig c : configs) {
                schedules.add(c.schedule());
            }
        }

        double run(long startStep, long steps, double secondsBefore, boolean resumed) {
            TrainConfig shared = configs.get(0);
            int b = shared.batchSize();
            int logEvery = shared.effectiveLogEvery();
            long every = shared.effectiveCheckpointEvery();
            List<BufferedWriter> metrics = Trainer.openMetrics(outDir, names, startStep);
            long t0 = System.nanoTime();
            double[] lrs = new double[models.size()];
            try {
                for (long step = startStep; step < steps; step++) {
                    if (step > startStep || resumed) {
                        feed.next();
                    }
                    boolean log = (step + 1) % logEvery == 0 || step == steps - 1;
                    for (int i = 0; i < models.size(); i++) {
                        TrainConfig c = configs.get(i);
                        lrs[i] = schedules.get(i).lrAt(step);
                        if (log && i == 0) {
                            models.get(i).profileNextStep();
                        }
                        models.get(i).step(feed.batch(), feed.totalVariance(), c.kAt(step), (float) lrs[i], step,
                                c.reviveRateAt(schedules.get(i), step));
                    }
                    long tokens = (step + 1) * b;
                    if (log) {
                        List<Trainer.Logged> logged = readouts(lrs);
                        samplePhases();
                        double secs = (System.nanoTime() - t0) / 1e9;
                        Trainer.report(listener, names, logged, metrics, step + 1, tokens, (step + 1 - startStep) * (double) b / Math.max(secs, 1e-9));
                    }
                    boolean due = every > 0 && tokens / every > (tokens - b) / every;
                    if (outDir != null && due && step + 1 < steps) {
                        checkpoint(step + 1, secondsBefore + (System.nanoTime() - t0) / 1e9);
                    }
                }
                dev.synchronize();
            } finally {
                metrics.forEach(Trainer::closeQuietly);
            }
            double seconds = secondsBefore + (System.nanoTime() - t0) / 1e9;
            requireFinite();
            if (outDir != null && startStep < steps) {
                checkpoint(steps, seconds);
            }
            return seconds;
        }

        /** The logged step's statistics of every SAE (waits for the step). */
        private List<Trainer.Logged> readouts(double[] lrs) {
            requireFinite();
            int b = configs.get(0).batchSize();
            double tv = dev.readDouble(feed.totalVariance());
            double safeTv = Math.max(tv, 1e-30);
            List<Trainer.Logged> out = new ArrayList<>();
            for (int i = 0; i < models.size(); i++) {
                TrainConfig c = configs.get(i);
                TopKDeviceModel.StepReadout r = models.get(i).readout();
                double fvu = r.sse() / safeTv;
                double aux = r.auxScale() * r.sseAux() / safeTv;
                StepStats stats = new StepStats(fvu, aux, (double) r.positive() / b, r.numDeadBefore(), 0, fvu + c.auxKCoef() * aux, null);
                out.add(new Trainer.Logged(c, stats, lrs[i], (double) r.numDeadAfter() / c.numLatents(), Double.NaN));
            }
            return out;
        }

        private void requireFinite() {
            for (int i = 0; i < models.size(); i++) {
                long bad = models.get(i).firstNonFiniteStep();
                if (bad >= 0) {
                    String name = names.get(i);
                    throw new SaeException("training " + (name.isEmpty() ? "" : name + " ") + "diverged at step " + bad
                            + " (the loss is not finite); lower --lr or check the data");
                }
            }
        }

        private void samplePhases() {
            double[] p = new double[TopKDeviceModel.PHASES.length];
            for (int i = 0; i < p.length; i++) {
                p[i] = models.get(0).phaseMs(i);
            }
            phaseSamples.add(p);
            profiled++;
        }

        double[] phaseMedians() {
            double[] out = new double[TopKDeviceModel.PHASES.length];
            for (int i = 0; i < out.length; i++) {
                double[] v = new double[phaseSamples.size()];
                for (int s = 0; s < v.length; s++) {
                    v[s] = phaseSamples.get(s)[i];
                }
                Arrays.sort(v);
                out[i] = v.length == 0 ? Double.NaN : v[v.length / 2];
            }
            return out;
        }

        /** Downloads every SAE's state and writes it in the CPU trainer's checkpoint format. */
        private void checkpoint(long step, double seconds) {
            requireFinite();
            if (hostM == null) {
                hostM = new float[models.size()][][];
                hostV = new float[models.size()][][];
                hostSince = new long[models.size()][];
                hostSincePositive = new long[models.size()][];
                for (int i = 0; i < models.size(); i++) {
                    int n = configs.get(i).numLatents();
                    int d = source.dIn();
                    int[] sizes = {n * d, n, n * d, d};
                    hostM[i] = new float[4][];
                    hostV[i] = new float[4][];
                    for (int p = 0; p < 4; p++) {
                        hostM[i][p] = new float[sizes[p]];
                        hostV[i][p] = new float[sizes[p]];
                    }
                    hostSince[i] = new long[n];
                    hostSincePositive[i] = new long[n];
                }
            }
            List<Checkpoint.MemberState> states = new ArrayList<>();
            for (int i = 0; i < models.size(); i++) {
                TopKDeviceModel model = models.get(i);
                model.store(saes.get(i), hostM[i], hostV[i], hostSince[i], hostSincePositive[i]);
                states.add(new Checkpoint.MemberState(names.get(i), configs.get(i), saes.get(i), null, hostM[i], hostV[i], model.adamSteps(),
                        false, hostSince[i], hostSincePositive[i]));
            }
            Checkpoint.RunState state = new Checkpoint.RunState(step, step * configs.get(0).batchSize(), seconds, feed.badRows(),
                    feed.normDropped(), options.scale(), options.maxNorm(), source.numRows(), source.dIn(), heldOutRows);
            Path dir = Checkpoint.write(outDir, state, states, configs.get(0).keepCheckpoints());
            listener.onCheckpoint(step, dir);
        }
    }
}
