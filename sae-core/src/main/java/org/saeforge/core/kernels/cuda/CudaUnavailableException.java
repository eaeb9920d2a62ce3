package org.saeforge.core.kernels.cuda;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.saeforge.core.SaeException;

/**
 * No usable CUDA here: no driver, no GPU, or no JCuda on the class path. {@code --device cuda} reports it and exits 2;
 * {@code --device auto} falls back to the CPU; the CUDA tests skip.
 */
public final class CudaUnavailableException extends SaeException {
    private static final long serialVersionUID = 1L;
    static final String NO_DRIVER = "--device cuda: no usable NVIDIA driver (libcuda.so.1 not found)";

    public CudaUnavailableException(String message) {
        super(message);
    }

    public CudaUnavailableException(String message, Throwable cause) {
        super(message, cause);
    }

    /**
     * The one-line error for a failure to load JCuda's driver bindings. The usual cause is a machine without the
     * NVIDIA driver, whose libcuda.so.1 the bindings link against; JCuda throws UnsatisfiedLinkError the first time
     * and NoClassDefFoundError (the first error as its cause) after that. Without the JCuda jar, the first JCuda class
     * is missing. This class refers to no JCuda type, so it works in all three cases.
     */
    public static CudaUnavailableException fromLoadFailure(LinkageError e) {
        return fromLoadFailure(e, libcudaVisible());
    }

    static CudaUnavailableException fromLoadFailure(LinkageError e, boolean libcudaVisible) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            String m = t.getMessage();
            if (m != null && m.contains("libcuda.so")) {
                return new CudaUnavailableException(NO_DRIVER, e);
            }
        }
        String m = String.valueOf(e.getMessage());
        // A repeated attempt: the JVM keeps only the start of the first error's (long) text, which may not reach the
        // line naming libcuda, so look for the library directly.
        if (e instanceof NoClassDefFoundError && m.startsWith("Could not initialize class jcuda.")) {
            return new CudaUnavailableException(libcudaVisible ? "--device cuda: cannot load the JCuda driver bindings "
                    + "(an earlier attempt in this process failed)" : NO_DRIVER, e);
        }
        if (e instanceof NoClassDefFoundError && e.getCause() == null && m.startsWith("jcuda/")) {
            return new CudaUnavailableException("--device cuda: JCuda (org.jcuda:jcuda) is not on the class path", e);
        }
        int nl = m.indexOf('\n');
        return new CudaUnavailableException("--device cuda: cannot load the JCuda driver bindings ("
                + (nl < 0 ? m : m.substring(0, nl)).strip() + ")", e);
    }

    /** Whether the dynamic loader could find libcuda.so.1: in LD_LIBRARY_PATH, the usual folders or ld.so.cache. */
    static boolean libcudaVisible() {
        String path = System.getenv("LD_LIBRARY_PATH");
        StringBuilder dirs = new StringBuilder(path == null ? "" : path);
        dirs.append(":/usr/lib/x86_64-linux-gnu:/usr/lib64:/usr/lib:/usr/local/nvidia/lib64:/usr/lib/wsl/lib");
        for (String d : dirs.toString().split(":")) {
            if (!d.isEmpty() && Files.exists(Path.of(d, "libcuda.so.1"))) {
                return true;
            }
        }
        try {
            byte[] cache = Files.readAllBytes(Path.of("/etc/ld.so.cache"));
            return new String(cache, StandardCharsets.ISO_8859_1).contains("libcuda.so.1");
        } catch (IOException | RuntimeException e) {
            return false;
        }
    }
}
