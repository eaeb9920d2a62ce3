package org.saeforge.core.data;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.FileTime;
import org.saeforge.core.FileFormatException;

/**
 * Remembers a file's size and modification time when it was opened, so that a file rewritten or truncated while a
 * run reads it stops the run with a clear error instead of feeding it garbage or crashing on a mapped page.
 */
final class FileGuard {
    private final Path path;
    private final long size;
    private final FileTime modified;

    FileGuard(Path path) {
        this.path = path;
        BasicFileAttributes a = attributes();
        this.size = a.size();
        this.modified = a.lastModifiedTime();
    }

    private BasicFileAttributes attributes() {
        try {
            return Files.readAttributes(path, BasicFileAttributes.class);
        } catch (IOException e) {
            throw new FileFormatException(path, "disappeared or became unreadable while being read (" + e.getMessage() + ")");
        }
    }

    /** Throws when the file's size or modification time differ from those seen at open. */
    void check() {
        BasicFileAttributes a = attributes();
        if (a.size() != size) {
            throw new FileFormatException(path, "changed while being read: size was " + size + " bytes when opened, now " + a.size()
                    + (a.size() < size ? " (truncated)" : ""));
        }
        if (!a.lastModifiedTime().equals(modified)) {
            throw new FileFormatException(path, "changed while being read: modified at " + a.lastModifiedTime() + " after it was opened");
        }
    }
}
