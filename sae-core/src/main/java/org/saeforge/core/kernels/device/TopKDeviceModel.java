package org.saeforge.core.kernels.device;

import org.saeforge.core.kernels.AdamStep;
import org.saeforge.core.kernels.Revival;
import org.saeforge.core.kernels.device.DeviceMemoryPlan.Category;
import org.saeforge.core.model.SparseAutoencoder;

/**
 * One TopK SAE trained on a {@link TrainDevice}: its parameters, gradients, Adam moments, dead-latent counters and
 * step buffers live on the device; a step enqueues the whole forward, backward, AuxK, Adam and dead-latent update
 * without copying anything to the host but one int (the dead-latent count, read while the next step's encoder runs).
 * The step computes what {@code TopKObjective}, {@code AdamOptimizer} and {@code DeadLatentTracker} compute on the host:
 * FVU loss with the batch's total variance, AuxK over the latents dead before the step (decoded with bDec, its gradient
 * reaching the encoder rows of the selected dead latents), the bDec term of the encoder input, Adam with the decoder
 * constraint (parallel component removed, rows renormalised), a selection counting as firing even at value 0. Its
 * arrays belong to the device, which frees them when it closes.
 */
public final class TopKDeviceModel {
    /** Phases timed on profiled steps, in order. */
    public static final String[] PHASES = {"encoder", "auxk encoder", "backward", "adam"};

    /**
     * What the device state is sized for.
     *
     * @param kMax      the largest k any step uses (annealing starts above k)
     * @param kAux      latents AuxK selects per row, as configured (the AuxK scale is min(numDead / kAux, 1))
     * @param auxKCoef  AuxK coefficient; 0 disables AuxK
     * @param deadAfter rows without a selection after which a latent is dead
     * @param reviveAfter rows without a positive activation after which a latent is revived each step (encoder bias and row; 0: never)
     */
    public record Shape(int dIn, int numLatents, int batchRows, int kMax, int kAux, double auxKCoef, long deadAfter, long reviveAfter) {
        public Shape {
            if (dIn < 1 || numLatents < 1 || batchRows < 1 || kMax < 1 || kMax > numLatents || kAux < 1 || deadAfter < 1
                    || !(auxKCoef >= 0) || reviveAfter < 0) {
                throw new IllegalArgumentException("bad TopK device shape " + this);
            }
        }

        /** A shape without revival. */
        public Shape(int dIn, int numLatents, int batchRows, int kMax, int kAux, double auxKCoef, long deadAfter) {
            this(dIn, numLatents, batchRows, kMax, kAux, auxKCoef, deadAfter, 0);
        }

        /** The most entries an AuxK selection keeps per row. */
        public int kAuxMax() {
            return Math.min(kAux, numLatents);
        }
    }

    /** What a step measured, read back on logged steps. */
    public record StepReadout(double sse, double sseAux, long positive, int numDeadBefore, int numDeadAfter, double auxScale, int k) {
    }

    private final TrainDevice dev;
    private final Shape s;
    private final int ld;
    private final DeviceArray wEnc;
    private final DeviceArray wEncOp;
    private final DeviceArray bEnc;
    private final DeviceArray wDec;
    private final DeviceArray bDec;
    private final DeviceArray gWEnc;
    private final DeviceArray gBEnc;
    private final DeviceArray gWDec;
    private final DeviceArray gBDec;
    private final DeviceArray[] m = new DeviceArray[4];
    private final DeviceArray[] v = new DeviceArray[4];
    private final DeviceArray since;
    private final DeviceArray selected;
    private final DeviceArray sincePositive;
    private final DeviceArray fired;
    /** Revival's encoder step scratch (null without revival): batch mean offset, row stats, two scalars. */
    private final DeviceArray reviveU;
    private final DeviceArray reviveStats;
    private final DeviceArray reviveScalars;
    private final DeviceArray deadIds;
    private final DeviceArray numDeadDev;
    private final DeviceArray xc;
    private final DeviceArray idx;
    private final DeviceArray val;
    private final DeviceArray dVal;
    private final DeviceArray xHat;
    private final DeviceArray grad;
    private final DeviceArray auxIdx;
    private final DeviceArray auxVal;
    private final DeviceArray auxDVal;
    private final DeviceArray auxHat;
    private final DeviceArray auxGrad;
    private final DeviceArray wDead;
    private final DeviceArray bDead;
    private final DeviceArray sse;
    private final DeviceArray sseAux;
    private final DeviceArray positive;
    private final DeviceArray firstBad;
    private final IntReadback numDeadReadback;
    private final DeviceClock clock;
    private boolean readbackPending;
    private int numDead;
    private long adamSteps;
    private boolean profileNext;
    private boolean profiled;
    private int lastNumDead;
    private double lastAuxScale;
    private int lastK;

    /** Allocates the device state (as {@link #plan} lists it); {@link #load} fills it. */
    public TopKDeviceModel(TrainDevice dev, Shape shape) {
        this.dev = dev;
        this.s = shape;
        this.ld = dev.ld(shape.dIn());
        long n = shape.numLatents();
        long nd = n * ld;
        int b = shape.batchRows();
        long bd = (long) b * ld;
        wEnc = dev.floats(nd, "wEncT");
        wEncOp = dev.operandBytes() == 4 ? wEnc : dev.operands(nd, "wEncT operand");
        bEnc = dev.floats(n, "bEnc");
        wDec = dev.floats(nd, "wDec");
        bDec = dev.floats(ld, "bDec");
        gWEnc = dev.floats(nd, "wEncT gradient");
        gBEnc = dev.floats(n, "bEnc gradient");
        gWDec = dev.floats(nd, "wDec gradient");
        gBDec = dev.floats(ld, "bDec gradient");
        long[] sizes = {nd, n, nd, ld};
        for (int i = 0; i < 4; i++) {
            m[i] = dev.floats(sizes[i], "Adam m" + i);
            v[i] = dev.floats(sizes[i], "Adam v" + i);
        }
        since = dev.longs(n, "rows since selected");
        selected = dev.ints(n, "selections");
        sincePositive = dev.longs(n, "rows since positive");
        fired = dev.ints(n, "positive activations");
        boolean revive = shape.reviveAfter() > 0;
        reviveU = revive ? dev.floats(ld, "revival mean offset") : null;
        reviveStats = revive ? dev.doubles(2 * n, "revival encoder row stats") : null;
        reviveScalars = revive ? dev.doubles(2, "revival scalars") : null;
        deadIds = dev.ints(n, "dead ids");
        numDeadDev = dev.ints(1, "dead count");
        xc = dev.operands(bd, "encoder input");
        long codes = (long) b * shape.kMax();
        idx = dev.ints(codes, "code indices");
        val = dev.floats(codes, "code values");
        dVal = dev.floats(codes, "code gradients");
        xHat = dev.floats(bd, "reconstruction");
        grad = dev.floats(bd, "reconstruction gradient");
        long auxCodes = (long) b * shape.kAuxMax();
        boolean aux = shape.auxKCoef() > 0;
        auxIdx = aux ? dev.ints(auxCodes, "AuxK indices") : null;
        auxVal = aux ? dev.floats(auxCodes, "AuxK values") : null;
        auxDVal = aux ? dev.floats(auxCodes, "AuxK gradients") : null;
        auxHat = aux ? dev.floats(bd, "AuxK reconstruction") : null;
        auxGrad = aux ? dev.floats(bd, "AuxK gradient") : null;
        wDead = aux ? dev.operands(nd, "dead encoder rows") : null;
        bDead = aux ? dev.floats(n, "dead encoder biases") : null;
        sse = dev.doubles(1, "squared error");
        sseAux = dev.doubles(1, "AuxK squared error");
        positive = dev.longs(1, "positive codes");
        firstBad = dev.longs(1, "first non-finite step");
        numDeadReadback = dev.intReadback();
        clock = dev.clock(PHASES.length + 1);
    }

    /**
     * The device memory a model of this shape allocates on a device with this leading dimension and operand size (the
     * device's shared scratch and the batch are planned by their owners).
     */
    public static DeviceMemoryPlan plan(Shape s, int ld, int operandBytes) {
        long n = s.numLatents();
        long nd = n * ld;
        long bd = (long) s.batchRows() * ld;
        long codes = (long) s.batchRows() * s.kMax();
        long auxCodes = (long) s.batchRows() * s.kAuxMax();
        DeviceMemoryPlan p = new DeviceMemoryPlan()
                .add(Category.PARAMETERS, "wEncT, wDec", 2 * nd, 4)
                .add(Category.PARAMETERS, "bEnc, bDec", n + ld, 4)
                .add(Category.GRADIENTS, "all parameters", 2 * nd + n + ld, 4)
                .add(Category.ADAM, "m and v", 2 * (2 * nd + n + ld), 4)
                .add(Category.DEAD_LATENTS, "rows since selected, rows since positive", 2L * n, 8)
                .add(Category.DEAD_LATENTS, "selections, positive activations, dead ids, dead count", 3L * n + 1, 4);
        if (s.reviveAfter() > 0) {
            p.add(Category.DEAD_LATENTS, "revival mean offset", ld, 4)
                    .add(Category.DEAD_LATENTS, "revival encoder row stats and scalars", 2 * n + 2, 8);
        }
        if (operandBytes != 4) {
            p.add(Category.PARAMETERS, "wEncT operand copy", nd, operandBytes);
        }
        p.add(Category.STEP, "encoder input", bd, operandBytes)
                .add(Category.STEP, "codes and their gradients", 3 * codes, 4)
                .add(Category.STEP, "reconstruction and its gradient", 2 * bd, 4)
                .add(Category.STEP, "step scalars", 4, 8);
        if (s.auxKCoef() > 0) {
            p.add(Category.AUXK, "AuxK codes and their gradients", 3 * auxCodes, 4)
                    .add(Category.AUXK, "AuxK reconstruction and its gradient", 2 * bd, 4)
                    .add(Category.AUXK, "dead encoder rows (all latents at worst)", nd, operandBytes)
                    .add(Category.AUXK, "dead encoder biases", n, 4);
        }
        return p;
    }

    public Shape shape() {
        return s;
    }

    /**
     * Uploads the weights, Adam moments (parameter order wEncT, bEnc, wDec, bDec; null: zeros), Adam step count and
     * dead-latent counters (rows since selected, rows since positive; null: zeros), then computes the dead list they
     * imply.
     */
    public void load(SparseAutoencoder sae, float[][] adamM, float[][] adamV, long adamStepCount, long[] sinceSelected,
                     long[] sincePositiveRows) {
        int n = s.numLatents();
        int d = s.dIn();
        if (sae.dIn() != d || sae.numLatents() != n) {
            throw new IllegalArgumentException("SAE of " + sae.numLatents() + " x " + sae.dIn() + " for a device model of " + n + " x " + d);
        }
        dev.uploadRows(sae.wEncT().data(), n, d, ld, wEnc);
        dev.uploadRows(sae.bEnc(), 1, n, n, bEnc);
        dev.uploadRows(sae.wDec().data(), n, d, ld, wDec);
        dev.uploadRows(sae.bDec(), 1, d, ld, bDec);
        if (wEncOp != wEnc) {
            dev.toOperand(wEnc, (long) n * ld, wEncOp);
        }
        int[][] shapes = {{n, d}, {1, n}, {n, d}, {1, d}};
        for (int i = 0; i < 4; i++) {
            int rows = shapes[i][0];
            int cols = shapes[i][1];
            int rowLd = rows == 1 && i == 1 ? n : ld;
            if (adamM == null) {
                dev.zero(m[i]);
                dev.zero(v[i]);
            } else {
                dev.uploadRows(adamM[i], rows, cols, rowLd, m[i]);
                dev.uploadRows(adamV[i], rows, cols, rowLd, v[i]);
            }
        }
        adamSteps = adamStepCount;
        loadCounters(sinceSelected, since, "dead-latent");
        loadCounters(sincePositiveRows, sincePositive, "revival");
        dev.zero(selected);
        dev.zero(firstBad);
        dev.deadUpdate(since, selected, n, 0, s.deadAfter(), deadIds, numDeadDev);
        numDeadReadback.request(numDeadDev);
        readbackPending = true;
        dev.synchronize();
    }

    /** Uploads per-latent row counters (null: zeros). */
    private void loadCounters(long[] host, DeviceArray dst, String what) {
        if (host == null) {
            dev.zero(dst);
            return;
        }
        if (host.length != s.numLatents()) {
            throw new IllegalArgumentException(what + " counters for " + host.length + " latents, expected " + s.numLatents());
        }
        dev.upload(host, dst);
    }

    /**
     * Downloads the weights into {@code sae} (same shape), the Adam moments into {@code adamM/adamV} (parameter order,
     * host lengths) and the dead-latent counters into {@code sinceSelected} and {@code sincePositiveRows}; any of the
     * last four may be null.
     */
    public void store(SparseAutoencoder sae, float[][] adamM, float[][] adamV, long[] sinceSelected, long[] sincePositiveRows) {
        int n = s.numLatents();
        int d = s.dIn();
        dev.downloadRows(wEnc, n, d, ld, sae.wEncT().data());
        dev.downloadRows(bEnc, 1, n, n, sae.bEnc());
        dev.downloadRows(wDec, n, d, ld, sae.wDec().data());
        dev.downloadRows(bDec, 1, d, ld, sae.bDec());
        if (adamM != null) {
            int[][] shapes = {{n, d}, {1, n}, {n, d}, {1, d}};
            for (int i = 0; i < 4; i++) {
                int rowLd = i == 1 ? n : ld;
                dev.downloadRows(m[i], shapes[i][0], shapes[i][1], rowLd, adamM[i]);
                dev.downloadRows(v[i], shapes[i][0], shapes[i][1], rowLd, adamV[i]);
            }
        }
        if (sinceSelected != null) {
            dev.download(since, sinceSelected);
        }
        if (sincePositiveRows != null) {
            dev.download(sincePositive, sincePositiveRows);
        }
    }

    /** Adam steps taken (restored by {@link #load}). */
    public long adamSteps() {
        return adamSteps;
    }

    /** Times the phases of the next step (read with {@link #phaseMs} after {@link #readout}). */
    public void profileNextStep() {
        profileNext = true;
    }

    /**
     * Enqueues one step on the batch {@code x [batchRows x ld]} with its total variance {@code totalVar} (doubles[1]):
     * k active latents per row, learning rate lr; {@code step} (0-based) marks a non-finite loss.
     */
    public void step(DeviceArray x, DeviceArray totalVar, int k, float lr, long step) {
        step(x, totalVar, k, lr, step, 0);
    }

    /**
     * As {@link #step(DeviceArray, DeviceArray, int, float, long)}, then revives the latents not positive for more than
     * {@code Shape.reviveAfter} rows: their encoder bias rises by {@code reviveRate} times the step's mean positive
     * activation ({@link TrainDevice#reviveBias}) and their encoder rows take revival's encoder step
     * ({@link TrainDevice#reviveEncoder}).
     */
    public void step(DeviceArray x, DeviceArray totalVar, int k, float lr, long step, double reviveRate) {
        if (k < 1 || k > s.kMax()) {
            throw new IllegalArgumentException("k " + k + " outside [1, " + s.kMax() + "] of this device model");
        }
        int b = s.batchRows();
        int n = s.numLatents();
        int nnz = b * k;
        boolean profile = profileNext;
        profileNext = false;
        if (profile) {
            clock.mark(0);
        }
        dev.prepareInput(x, bDec, b, ld, xc);
        dev.selectTopK(xc, wEncOp, bEnc, b, n, ld, k, null, idx, val);
        if (profile) {
            clock.mark(1);
        }
        // the dead list of the previous step: its copy ran behind the previous step, the encoder above is queued
        int dead = numDead();
        boolean aux = s.auxKCoef() > 0 && dead > 0;
        int kAux = aux ? Math.min(s.kAux(), dead) : 0;
        if (aux) {
            dev.gatherOperandRows(wEncOp, ld, deadIds, dead, wDead);
            dev.gatherValues(bEnc, deadIds, dead, bDead);
            dev.selectTopK(xc, wDead, bDead, b, dead, ld, kAux, deadIds, auxIdx, auxVal);
        }
        if (profile) {
            clock.mark(2);
        }
        dev.decode(idx, val, b, k, wDec, n, ld, bDec, xHat);
        dev.residualGradient(x, xHat, null, b, ld, totalVar, 1.0, grad, sse);
        dev.gatherDots(idx, b, k, grad, wDec, n, ld, dVal);
        dev.zero(gWEnc);
        dev.zero(gBEnc);
        dev.zero(gWDec);
        dev.zero(gBDec);
        DeviceGroups groups = dev.groupByLatent(idx, nnz, n);
        // decoder: x̂ = Σ z_j wDec[j] + bDec
        dev.scatterOuter(groups, b, k, val, grad, null, ld, gWDec, null);
        dev.addColumnSums(grad, b, ld, gBDec);
        // encoder, through the selected latents with a positive value
        dev.maskNonPositive(val, dVal, nnz);
        dev.scatterOuter(groups, b, k, dVal, x, bDec, ld, gWEnc, gBEnc);
        double auxScale = 0;
        if (aux) {
            auxScale = Math.min((double) dead / s.kAux(), 1.0);
            int auxNnz = b * kAux;
            dev.decode(auxIdx, auxVal, b, kAux, wDec, n, ld, bDec, auxHat);
            dev.residualGradient(x, xHat, auxHat, b, ld, totalVar, s.auxKCoef() * auxScale, auxGrad, sseAux);
            dev.gatherDots(auxIdx, b, kAux, auxGrad, wDec, n, ld, auxDVal);
            DeviceGroups auxGroups = dev.groupByLatent(auxIdx, auxNnz, n);
            dev.scatterOuter(auxGroups, b, kAux, auxVal, auxGrad, null, ld, gWDec, null);
            dev.addColumnSums(auxGrad, b, ld, gBDec);
            dev.maskNonPositive(auxVal, auxDVal, auxNnz);
            dev.scatterOuter(auxGroups, b, kAux, auxDVal, x, bDec, ld, gWEnc, gBEnc);
        } else {
            dev.zero(sseAux);
        }
        // bDec also enters the encoder input (x − bDec)
        dev.subtractRowCombination(gBEnc, wEnc, n, ld, gBDec);
        dev.zero(positive);
        dev.zero(selected);
        dev.zero(fired);
        dev.codeStats(idx, val, nnz, positive, fired, selected);
        dev.checkFinite(sse, sseAux, step, firstBad);
        if (profile) {
            clock.mark(3);
        }
        adamSteps++;
        AdamStep hp = AdamStep.of(lr, adamSteps);
        dev.adam(wEnc, gWEnc, m[0], v[0], (long) n * ld, hp, wEncOp != wEnc ? wEncOp : null);
        dev.adam(bEnc, gBEnc, m[1], v[1], n, hp, null);
        dev.adamDecoderRows(wDec, gWDec, m[2], v[2], n, ld, hp);
        dev.adam(bDec, gBDec, m[3], v[3], ld, hp, null);
        if (profile) {
            clock.mark(4);
        }
        dev.deadUpdate(since, selected, n, b, s.deadAfter(), deadIds, numDeadDev);
        dev.reviveBias(bEnc, sincePositive, fired, n, b, s.reviveAfter(), val, nnz, Math.max(0, reviveRate));
        if (reviveU != null && reviveRate > 0) {
            dev.reviveEncoder(wEnc, wEncOp, x, bDec, sincePositive, fired, b, n, ld, s.reviveAfter(), Revival.growth(lr), reviveU,
                    reviveStats, reviveScalars);
        }
        numDeadReadback.request(numDeadDev);
        readbackPending = true;
        profiled = profile;
        lastNumDead = dead;
        lastAuxScale = auxScale;
        lastK = k;
    }

    /** Latents dead now (after the last enqueued step), waiting for its dead-latent update if needed. */
    public int numDead() {
        if (readbackPending) {
            numDead = numDeadReadback.await();
            readbackPending = false;
        }
        return numDead;
    }

    /** The last step's measurements (waits for the step). */
    public StepReadout readout() {
        int after = numDead();
        return new StepReadout(dev.readDouble(sse), dev.readDouble(sseAux), dev.readLong(positive), lastNumDead, after, lastAuxScale,
                lastK);
    }

    /** Device milliseconds of phase i ({@link #PHASES}) of the last profiled step, or NaN if it was not profiled. */
    public double phaseMs(int i) {
        return profiled ? clock.elapsedMs(i, i + 1) : Double.NaN;
    }

    /** The first step whose loss was not finite, or -1 (waits for the enqueued steps). */
    public long firstNonFiniteStep() {
        return dev.readLong(firstBad) - 1;
    }
}
