package org.saeforge.core.io;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.BasicFileAttributes;
import org.saeforge.core.SaeException;

/**
 * Writes that never leave a half-written file under the final name: content goes to a temporary sibling, is
 * forced to disk, then renamed over the target. A crash leaves at worst a {@code .tmp-*} sibling behind.
 */
public final class AtomicFiles {
    private AtomicFiles() {
    }

    /** Something that writes a file's bytes to the given (temporary) path. */
    @FunctionalInterface
    public interface FileWriter {
        void write(Path tmp) throws IOException;
    }

    /** Something that fills a (temporary) directory. */
    @FunctionalInterface
    public interface DirWriter {
        void write(Path tmpDir) throws IOException;
    }

    public static void writeString(Path target, String text) {
        write(target, tmp -> Files.writeString(tmp, text, StandardCharsets.UTF_8));
    }

    /** Writes target through a temporary sibling and an atomic rename. */
    public static void write(Path target, FileWriter writer) {
        Path abs = target.toAbsolutePath();
        Path tmp = abs.resolveSibling(abs.getFileName() + ".tmp-" + ProcessHandle.current().pid());
        try {
            Files.createDirectories(abs.getParent());
            writer.write(tmp);
            fsync(tmp);
            move(tmp, abs);
        } catch (IOException e) {
            deleteQuietly(tmp);
            throw SaeException.internal(target + ": cannot write (" + e.getMessage() + ")", e);
        }
    }

    /**
     * Fills a temporary sibling directory, then puts it in place of {@code target} (replacing an existing directory:
     * the old one is renamed aside first and deleted only after the new one is in place).
     */
    public static void writeDirectory(Path target, DirWriter writer) {
        Path abs = target.toAbsolutePath();
        Path tmp = abs.resolveSibling(abs.getFileName() + ".tmp-" + ProcessHandle.current().pid());
        Path old = abs.resolveSibling(abs.getFileName() + ".old-" + ProcessHandle.current().pid());
        try {
            Files.createDirectories(abs.getParent());
            deleteRecursively(tmp);
            Files.createDirectories(tmp);
            writer.write(tmp);
            try (var files = Files.list(tmp)) {
                for (Path f : (Iterable<Path>) files::iterator) {
                    if (Files.isRegularFile(f)) {
                        fsync(f);
                    }
                }
            }
            boolean existed = Files.exists(abs);
            if (existed) {
                move(abs, old);
            }
            move(tmp, abs);
            if (existed) {
                deleteRecursively(old);
            }
        } catch (IOException e) {
            deleteQuietly(tmp);
            throw SaeException.internal(target + ": cannot write (" + e.getMessage() + ")", e);
        }
    }

    private static void move(Path from, Path to) throws IOException {
        try {
            Files.move(from, to, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (AtomicMoveNotSupportedException e) {
            Files.move(from, to, StandardCopyOption.REPLACE_EXISTING);
        }
    }

    private static void fsync(Path file) throws IOException {
        try (var ch = java.nio.channels.FileChannel.open(file, java.nio.file.StandardOpenOption.WRITE)) {
            ch.force(true);
        }
    }

    private static void deleteQuietly(Path p) {
        try {
            deleteRecursively(p);
        } catch (IOException | UncheckedIOException e) {
            // best effort: a leftover .tmp-* never shadows the real file
        }
    }

    public static void deleteRecursively(Path p) throws IOException {
        if (!Files.exists(p)) {
            return;
        }
        Files.walkFileTree(p, new SimpleFileVisitor<>() {
            @Override
            public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) throws IOException {
                Files.delete(file);
                return FileVisitResult.CONTINUE;
            }

            @Override
            public FileVisitResult postVisitDirectory(Path dir, IOException exc) throws IOException {
                Files.delete(dir);
                return FileVisitResult.CONTINUE;
            }
        });
    }
}
