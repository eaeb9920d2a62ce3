package org.saeforge.core;

import java.nio.file.Path;

/** A file that cannot be read as what it claims to be. The message starts with the file name. */
public class FileFormatException extends SaeException {
    private static final long serialVersionUID = 1L;

    private final transient Path file;

    public FileFormatException(Path file, String problem) {
        super(file + ": " + problem);
        this.file = file;
    }

    public FileFormatException(Path file, String problem, Throwable cause) {
        super(file + ": " + problem, cause);
        this.file = file;
    }

    public Path file() {
        return file;
    }
}
