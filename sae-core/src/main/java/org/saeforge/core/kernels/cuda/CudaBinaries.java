package org.saeforge.core.kernels.cuda;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.saeforge.core.SaeException;

/**
 * The compiled kernels on the class path: {@code cuda/<family>.fatbin}, built by {@code src/main/cuda/build.sh}
 * (Maven profile {@code cuda-kernels}) and committed, with {@code cuda/SOURCES.sha256} recording the sources they came
 * from. Loaded as bytes and handed to {@code cuModuleLoadData}; nvcc never runs at run time.
 */
public final class CudaBinaries {
    /** The kernel families, one {@code .cu} and one fatbin each. */
    public static final List<String> FAMILIES = List.of("encode", "decode", "backward", "auxk", "adam", "metrics", "train");
    /**
     * The encoder built once more for sm_90a with its wgmma mainloop ({@code -DSAE_WGMMA}): the same kernel names as
     * {@code encode.fatbin}, SASS for compute capability 9.0 only.
     */
    public static final String ENCODE_SM90A = "encode_sm90a";
    /**
     * System property that turns the wgmma encoder off ({@code -Dsae.cuda.wgmma=false}): the mma.sync kernels of
     * {@code encode.fatbin} then run on Hopper too (for comparison runs).
     */
    public static final String WGMMA_PROPERTY = "sae.cuda.wgmma";
    /** Class-path folder of the fatbins and the manifest. */
    public static final String RESOURCE_DIR = "cuda/";
    public static final String MANIFEST = RESOURCE_DIR + "SOURCES.sha256";
    /** First four bytes of a fatbin container (0xBA55ED50, little-endian). */
    static final int FATBIN_MAGIC = 0xBA55ED50;

    private CudaBinaries() {
    }

    /**
     * The module to load for {@code family} on a device of compute capability {@code major.minor}: the wgmma encoder
     * on 9.0 unless {@link #WGMMA_PROPERTY} is false, else the family's own fatbin.
     */
    public static String module(String family, int major, int minor) {
        boolean wgmma = !"false".equalsIgnoreCase(System.getProperty(WGMMA_PROPERTY, "true"));
        return family.equals("encode") && major == 9 && minor == 0 && wgmma ? ENCODE_SM90A : family;
    }

    /** The fatbin of one family (or of {@link #ENCODE_SM90A}) as bytes; a missing resource is an internal error naming it. */
    public static byte[] fatbin(String family) {
        if (!FAMILIES.contains(family) && !family.equals(ENCODE_SM90A)) {
            throw new IllegalArgumentException("unknown kernel family '" + family + "' (known: " + FAMILIES + ")");
        }
        String name = RESOURCE_DIR + family + ".fatbin";
        byte[] bytes = resource(name);
        if (bytes.length < 4 || littleEndianInt(bytes) != FATBIN_MAGIC) {
            throw SaeException.internal("class-path resource " + name + " is not a CUDA fatbin (bad magic)", null);
        }
        return bytes;
    }

    /** The recorded SHA-256 of each kernel source file (file name to lower-case hex). */
    public static Map<String, String> recordedSourceHashes() {
        String text = new String(resource(MANIFEST), StandardCharsets.UTF_8);
        Map<String, String> hashes = new TreeMap<>();
        for (String line : text.split("\n")) {
            String l = line.strip();
            if (l.isEmpty() || l.startsWith("#")) {
                continue;
            }
            String[] parts = l.split("\\s+\\*?", 2);
            if (parts.length != 2 || !parts[0].matches("[0-9a-f]{64}")) {
                throw SaeException.internal(MANIFEST + ": malformed line '" + l + "'", null);
            }
            hashes.put(parts[1], parts[0]);
        }
        return hashes;
    }

    static int littleEndianInt(byte[] b) {
        return (b[0] & 0xff) | (b[1] & 0xff) << 8 | (b[2] & 0xff) << 16 | (b[3] & 0xff) << 24;
    }

    private static byte[] resource(String name) {
        try (InputStream in = CudaBinaries.class.getClassLoader().getResourceAsStream(name)) {
            if (in == null) {
                throw SaeException.internal("CUDA kernels missing from the class path: " + name
                        + " (rebuild sae-core with -Pcuda-kernels where nvcc is installed)", null);
            }
            return in.readAllBytes();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read class-path resource " + name, e);
        }
    }
}
