package org.saeforge.core.kernels;

import java.util.Locale;
import org.saeforge.core.SaeException;

/** Where kernels run, as chosen with {@code --device}. */
public enum Device {
    /** The reference kernels: plain loops, double accumulation, one thread. */
    CPU_REF("cpu-ref"),
    /** The fast CPU kernels (BLAS + Vector API). */
    CPU("cpu"),
    /** NVIDIA GPU through the JCuda driver API. */
    CUDA("cuda"),
    /** CUDA when a usable GPU is present, else CPU. */
    AUTO("auto");

    private final String cliName;

    Device(String cliName) {
        this.cliName = cliName;
    }

    public String cliName() {
        return cliName;
    }

    public static Device fromCliName(String s) {
        for (Device d : values()) {
            if (d.cliName.equals(s.toLowerCase(Locale.ROOT))) {
                return d;
            }
        }
        throw new SaeException("unknown device '" + s + "' (expected cpu, cpu-ref, cuda or auto)");
    }
}
