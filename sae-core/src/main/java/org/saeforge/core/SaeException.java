package org.saeforge.core;

/**
 * An error a user can hit: bad input, a bad flag, a missing resource. The message is one line that
 * names the file or option and what is wrong; the CLI prints it and exits with {@link #exitCode()}.
 */
public class SaeException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    /** Exit code for bad input: a bad flag, a bad file, a wrong shape. */
    public static final int BAD_INPUT = 2;
    /** Exit code for a failure of the environment or of SAEForge itself. */
    public static final int INTERNAL = 1;

    private final int exitCode;

    public SaeException(String message) {
        this(message, BAD_INPUT, null);
    }

    public SaeException(String message, Throwable cause) {
        this(message, BAD_INPUT, cause);
    }

    protected SaeException(String message, int exitCode, Throwable cause) {
        super(message, cause);
        this.exitCode = exitCode;
    }

    public int exitCode() {
        return exitCode;
    }

    /** An environment problem (native library missing, disk full): exit code 1. */
    public static SaeException internal(String message, Throwable cause) {
        return new SaeException(message, INTERNAL, cause);
    }
}
