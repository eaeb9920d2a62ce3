package org.saeforge.core.kernels.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * The committed fatbins match the committed kernel sources: every .cu has its fatbin, and the SHA-256 recorded beside
 * the fatbins is that of the sources now. Fails after a kernel edit until {@code mvn -Pcuda-kernels} (or
 * {@code src/main/cuda/build.sh}) has been run and its output committed. No GPU needed.
 */
class CudaBinariesTest {

    @Test
    void recordedHashesMatchTheSources() throws IOException, NoSuchAlgorithmException {
        Map<String, String> actual = new TreeMap<>();
        try (Stream<Path> files = Files.list(SourceFiles.cudaSources())) {
            for (Path f : (Iterable<Path>) files::iterator) {
                String name = f.getFileName().toString();
                if (name.endsWith(".cu") || name.endsWith(".cuh") || name.equals("build.sh")) {
                    actual.put(name, sha256(Files.readAllBytes(f)));
                }
            }
        }
        Map<String, String> recorded = CudaBinaries.recordedSourceHashes();
        if (!actual.equals(recorded)) {
            StringBuilder diff = new StringBuilder();
            for (String name : new java.util.TreeSet<>(union(actual, recorded))) {
                if (!java.util.Objects.equals(actual.get(name), recorded.get(name))) {
                    diff.append(' ').append(name).append(actual.containsKey(name) ? "" : " (deleted)")
                            .append(recorded.containsKey(name) ? "" : " (new)");
                }
            }
            fail("committed CUDA fatbins are stale for:" + diff
                    + "; rebuild with `mvn -Pcuda-kernels -pl sae-core generate-resources` and commit src/main/resources/cuda");
        }
    }

    @Test
    void everyKernelFamilyHasAFatbin() throws IOException {
        try (Stream<Path> files = Files.list(SourceFiles.cudaSources())) {
            long sources = files.filter(f -> f.getFileName().toString().endsWith(".cu")).count();
            assertEquals(CudaBinaries.FAMILIES.size(), sources, "one .cu per kernel family " + CudaBinaries.FAMILIES);
        }
        for (String family : CudaBinaries.FAMILIES) {
            assertTrue(Files.exists(SourceFiles.cudaSources().resolve(family + ".cu")), family + ".cu exists");
            byte[] fatbin = CudaBinaries.fatbin(family);
            assertEquals(CudaBinaries.FATBIN_MAGIC, CudaBinaries.littleEndianInt(fatbin), family + ".fatbin magic");
            assertTrue(fatbin.length > 1000, family + ".fatbin holds code");
        }
        byte[] hopper = CudaBinaries.fatbin(CudaBinaries.ENCODE_SM90A);
        assertEquals(CudaBinaries.FATBIN_MAGIC, CudaBinaries.littleEndianInt(hopper), "encode_sm90a.fatbin magic");
        assertTrue(hopper.length > 1000, "encode_sm90a.fatbin holds code");
    }

    @Test
    void onlyComputeCapability90LoadsTheWgmmaEncoder() {
        assertEquals(CudaBinaries.ENCODE_SM90A, CudaBinaries.module("encode", 9, 0));
        assertEquals("encode", CudaBinaries.module("encode", 8, 0));
        assertEquals("encode", CudaBinaries.module("encode", 8, 9));
        assertEquals("encode", CudaBinaries.module("encode", 10, 0), "sm_90a code does not run on later chips");
        assertEquals("decode", CudaBinaries.module("decode", 9, 0));
        String before = System.getProperty(CudaBinaries.WGMMA_PROPERTY);
        System.setProperty(CudaBinaries.WGMMA_PROPERTY, "false");
        try {
            assertEquals("encode", CudaBinaries.module("encode", 9, 0), "-Dsae.cuda.wgmma=false");
        } finally {
            if (before == null) {
                System.clearProperty(CudaBinaries.WGMMA_PROPERTY);
            } else {
                System.setProperty(CudaBinaries.WGMMA_PROPERTY, before);
            }
        }
    }

    private static java.util.Set<String> union(Map<String, String> a, Map<String, String> b) {
        java.util.Set<String> s = new java.util.HashSet<>(a.keySet());
        s.addAll(b.keySet());
        return s;
    }

    private static String sha256(byte[] bytes) throws NoSuchAlgorithmException {
        return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
    }
}
