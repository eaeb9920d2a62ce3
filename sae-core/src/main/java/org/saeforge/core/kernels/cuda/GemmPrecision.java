package org.saeforge.core.kernels.cuda;

import java.util.Locale;
import org.saeforge.core.SaeException;

/**
 * Operand precision of the encoder GEMM; accumulation is fp32 in every case. Expected relative error of a
 * pre-activation against a float64 reference: bf16 a few 1e-3, TF32 about 3e-4, fp32 about 1e-6.
 */
public enum GemmPrecision {
    /** bf16 operands through {@code mma.sync m16n8k16}: the fastest. */
    BF16("bf16", 2),
    /** fp32 operands rounded to TF32 ({@code cvt.rna}) through {@code mma.sync m16n8k8}. */
    TF32("tf32", 4),
    /** fp32 FMA on the CUDA cores: the exact path, for parity with the CPU backends. */
    FP32("f32", 4);

    private final String suffix;
    private final int operandBytes;

    GemmPrecision(String suffix, int operandBytes) {
        this.suffix = suffix;
        this.operandBytes = operandBytes;
    }

    /** The suffix of this path's kernels in encode.cu ({@code gemm_store_bf16}, ...). */
    public String suffix() {
        return suffix;
    }

    /** Bytes per operand element on the device. */
    public int operandBytes() {
        return operandBytes;
    }

    public static GemmPrecision fromName(String s) {
        for (GemmPrecision p : values()) {
            if (p.suffix.equals(s.toLowerCase(Locale.ROOT)) || p.name().equalsIgnoreCase(s)) {
                return p;
            }
        }
        throw new SaeException("unknown GEMM precision '" + s + "' (expected bf16, tf32 or f32)");
    }
}
