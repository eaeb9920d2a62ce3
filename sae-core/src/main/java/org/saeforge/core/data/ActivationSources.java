package org.saeforge.core.data;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.PathMatcher;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.stream.Stream;
import org.saeforge.core.FileFormatException;
import org.saeforge.core.SaeException;
import org.saeforge.core.tensor.FloatMatrix;

/**
 * Opens activation inputs: files by extension (or magic bytes), shard folders, folders of files and globs, several
 * of them as one source, with CSV sidecar metadata and an optional modality filter. Everything is opened and checked
 * (header, width, dtype, size) here, before any training starts.
 */
public final class ActivationSources {
    private static final String[] EXTENSIONS = {".npy", ".npz", ".h5", ".hdf5", ".safetensors"};

    private ActivationSources() {
    }

    /**
     * What to read: {@code --data} values (files, folders or globs), {@code --dataset} (member, dataset or tensor
     * name; null picks the only float one) and {@code --modality} (image, text, all or null).
     */
    public record Spec(List<String> data, String dataset, String modality) {
        public Spec {
            data = List.copyOf(data);
        }

        public static Spec of(Path file) {
            return new Spec(List.of(file.toString()), null, null);
        }
    }

    /** Opens one file or shard folder (the only float dataset of HDF5/npz/safetensors files). */
    public static ActivationSource open(Path path) {
        return open(path, null);
    }

    /** Opens one file or shard folder; {@code dataset} names the member, dataset or tensor (null: the only one). */
    public static ActivationSource open(Path path, String dataset) {
        return open(path, dataset, true);
    }

    /** With strict false, a dataset name is ignored for inputs that hold a single array (mixed input lists). */
    private static ActivationSource open(Path path, String dataset, boolean strict) {
        ActivationSource s = openOne(path, dataset, strict);
        if (s.metadata() == null) {
            try {
                RowMetadata m = CsvMetadata.readSidecar(path, s.numRows());
                if (m != null) {
                    return new WithMetadata(s, m);
                }
            } catch (RuntimeException e) {
                s.close();
                throw e;
            }
        }
        return s;
    }

    /** Opens everything a {@link Spec} names as one source; all inputs are opened and checked first. */
    public static ActivationSource open(Spec spec) {
        List<Path> paths = resolve(spec.data());
        ActivationSource s = paths.size() == 1 ? open(paths.get(0), spec.dataset())
                : ConcatSource.openAll(paths, p -> open(p, spec.dataset(), false));
        try {
            return ModalityFilter.apply(s, spec.modality());
        } catch (RuntimeException e) {
            s.close();
            throw e;
        }
    }

    /** Expands folders (a shard folder stays one input) and globs into the list of inputs, in name order. */
    public static List<Path> resolve(List<String> data) {
        if (data.isEmpty()) {
            throw new SaeException("no --data given");
        }
        List<Path> out = new ArrayList<>();
        for (String d : data) {
            if (isGlob(d)) {
                List<Path> matches = glob(d);
                if (matches.isEmpty()) {
                    throw new SaeException("--data " + d + ": no activation files match");
                }
                out.addAll(matches);
                continue;
            }
            Path p = Path.of(d);
            if (Files.isDirectory(p) && !ShardFolder.isShardFolder(p)) {
                List<Path> files = listFolder(p);
                if (files.isEmpty()) {
                    throw new FileFormatException(p, "folder holds no activation files (" + String.join(", ", EXTENSIONS)
                            + " or shard folders)");
                }
                out.addAll(files);
            } else {
                out.add(p);
            }
        }
        return out;
    }

    private static boolean isGlob(String s) {
        return s.indexOf('*') >= 0 || s.indexOf('?') >= 0 || s.indexOf('[') >= 0 || s.indexOf('{') >= 0;
    }

    private static boolean isActivationFile(Path p) {
        String n = p.getFileName().toString().toLowerCase(Locale.ROOT);
        for (String e : EXTENSIONS) {
            if (n.endsWith(e)) {
                return Files.isRegularFile(p);
            }
        }
        return ShardFolder.isShardFolder(p);
    }

    private static List<Path> listFolder(Path dir) {
        try (Stream<Path> s = Files.list(dir)) {
            return s.filter(ActivationSources::isActivationFile).sorted().toList();
        } catch (IOException e) {
            throw new FileFormatException(dir, "cannot list (" + e.getMessage() + ")");
        }
    }

    private static List<Path> glob(String pattern) {
        String norm = pattern.replace('\\', '/');
        int firstMeta = norm.length();
        for (char c : new char[] {'*', '?', '[', '{'}) {
            int i = norm.indexOf(c);
            if (i >= 0) {
                firstMeta = Math.min(firstMeta, i);
            }
        }
        int slash = norm.lastIndexOf('/', firstMeta);
        Path base = slash < 0 ? Path.of(".") : Path.of(slash == 0 ? "/" : norm.substring(0, slash));
        String rel = slash < 0 ? norm : norm.substring(slash + 1);
        if (!Files.isDirectory(base)) {
            return List.of();
        }
        PathMatcher m = FileSystems.getDefault().getPathMatcher("glob:" + rel);
        int depth = rel.contains("**") ? Integer.MAX_VALUE : (int) rel.chars().filter(c -> c == '/').count() + 1;
        try (Stream<Path> s = Files.walk(base, depth)) {
            return s.filter(p -> !p.equals(base) && m.matches(base.relativize(p)) && isActivationFile(p))
                    .map(p -> slash < 0 ? base.relativize(p) : p)
                    .sorted().toList();
        } catch (IOException e) {
            throw new SaeException("--data " + pattern + ": cannot list (" + e.getMessage() + ")");
        }
    }

    private static ActivationSource openOne(Path path, String dataset, boolean strict) {
        if (Files.isDirectory(path)) {
            if (!ShardFolder.isShardFolder(path)) {
                throw new FileFormatException(path, "is a folder but not a shard folder (no " + ShardFolder.INDEX + ")");
            }
            requireNoDataset(path, strict ? dataset : null, "a shard folder");
            return ShardFolder.open(path);
        }
        if (!Files.exists(path)) {
            throw new FileFormatException(path, "file not found");
        }
        String name = path.getFileName().toString().toLowerCase(Locale.ROOT);
        String kind;
        if (name.endsWith(".npy")) {
            kind = "npy";
        } else if (name.endsWith(".npz")) {
            kind = "npz";
        } else if (name.endsWith(".h5") || name.endsWith(".hdf5")) {
            kind = "hdf5";
        } else if (name.endsWith(".safetensors")) {
            kind = "safetensors";
        } else {
            kind = sniff(path);
        }
        switch (kind) {
            case "npy":
                requireNoDataset(path, strict ? dataset : null, "an .npy file");
                return NpySource.open(path);
            case "npz":
                return NpzSource.open(path, dataset);
            case "hdf5":
                return openHdf5(path, dataset);
            case "safetensors":
                return SafetensorsSource.open(path, dataset);
            default:
                throw new FileFormatException(path, "unsupported activation file type (expected .npy, .npz, .h5/.hdf5, .safetensors or a shard folder)");
        }
    }

    private static ActivationSource openHdf5(Path path, String dataset) {
        try {
            return Hdf5Source.open(path, dataset);
        } catch (NoClassDefFoundError e) {
            throw new FileFormatException(path, "HDF5 support needs the io.jhdf:jhdf library on the class path (the sae CLI includes it)");
        }
    }

    private static void requireNoDataset(Path path, String dataset, String what) {
        if (dataset != null) {
            throw new FileFormatException(path, "--dataset " + dataset + " does not apply: " + what + " holds a single array");
        }
    }

    /** Guesses a format from the first bytes: .npy, zip (.npz), HDF5, or safetensors (a JSON header). */
    private static String sniff(Path path) {
        byte[] head = new byte[9];
        int n;
        try (InputStream in = Files.newInputStream(path)) {
            n = in.readNBytes(head, 0, head.length);
        } catch (IOException e) {
            throw new FileFormatException(path, "cannot read (" + e.getMessage() + ")");
        }
        if (n >= 6 && (head[0] & 0xff) == 0x93 && head[1] == 'N' && head[2] == 'U') {
            return "npy";
        }
        if (n >= 4 && head[0] == 'P' && head[1] == 'K' && head[2] == 3 && head[3] == 4) {
            return "npz";
        }
        if (n >= 4 && (head[0] & 0xff) == 0x89 && head[1] == 'H' && head[2] == 'D' && head[3] == 'F') {
            return "hdf5";
        }
        if (n == 9 && head[8] == '{') {
            return "safetensors";
        }
        return "unknown";
    }

    /** Reads a whole (small) 2-D float file into memory, e.g. a ground-truth dictionary. */
    public static FloatMatrix readMatrix(Path path) {
        try (ActivationSource s = open(path)) {
            if (s.numRows() * s.dIn() > Integer.MAX_VALUE - 8) {
                throw new FileFormatException(path, "too large to load into memory (" + s.numRows() + " x " + s.dIn() + ")");
            }
            FloatMatrix m = new FloatMatrix((int) s.numRows(), s.dIn());
            s.readRows(0, (int) s.numRows(), m.data(), 0);
            return m;
        }
    }
}
