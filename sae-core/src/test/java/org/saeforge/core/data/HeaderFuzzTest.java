package org.saeforge.core.data;

import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.saeforge.core.SaeException;
import org.saeforge.core.io.Safetensors;

/**
 * Seeded mutation fuzzing of the header parsers (.npy, .npz, safetensors, shard index): flipped bytes, truncations,
 * absurd lengths and numbers. Opening and reading a mutated file either works or throws {@link SaeException}; never
 * another exception, an {@link OutOfMemoryError} or a hang.
 */
class HeaderFuzzTest {
    private static final int ROUNDS = 1000;

    private static byte[] mutate(byte[] base, SplittableRandom rnd, int headerEnd) {
        byte[] b = base.clone();
        switch (rnd.nextInt(6)) {
            case 0: {
                int flips = 1 + rnd.nextInt(4);
                for (int i = 0; i < flips; i++) {
                    b[rnd.nextInt(Math.min(b.length, headerEnd))] ^= (byte) (1 << rnd.nextInt(8));
                }
                return b;
            }
            case 1:
                return java.util.Arrays.copyOf(b, rnd.nextInt(b.length));
            case 2: {
                // an absurd 8-byte little-endian value at a random header position (lengths, offsets)
                int at = rnd.nextInt(Math.max(1, Math.min(b.length, headerEnd) - 8));
                long v = rnd.nextBoolean() ? rnd.nextLong() : (1L << rnd.nextInt(63)) - rnd.nextInt(3);
                for (int i = 0; i < 8 && at + i < b.length; i++) {
                    b[at + i] = (byte) (v >>> (8 * i));
                }
                return b;
            }
            case 3: {
                // replace a digit run in the text header by a huge or negative number
                String s = new String(b, 0, Math.min(b.length, headerEnd), StandardCharsets.ISO_8859_1);
                int i = indexOfDigit(s, rnd.nextInt(Math.max(1, s.length())));
                if (i < 0) {
                    return b;
                }
                int j = i;
                while (j < s.length() && Character.isDigit(s.charAt(j))) {
                    j++;
                }
                String[] repl = {"99999999999999999999", "9223372036854775807", "-1", "0", "4294967296", "1e308", "2147483648"};
                String t = s.substring(0, i) + repl[rnd.nextInt(repl.length)] + s.substring(j);
                byte[] head = t.getBytes(StandardCharsets.ISO_8859_1);
                byte[] out = new byte[head.length + b.length - Math.min(b.length, headerEnd)];
                System.arraycopy(head, 0, out, 0, head.length);
                System.arraycopy(b, Math.min(b.length, headerEnd), out, head.length, b.length - Math.min(b.length, headerEnd));
                return out;
            }
            case 4: {
                int at = rnd.nextInt(b.length);
                byte[] junk = new byte[rnd.nextInt(64)];
                rnd.nextBytes(junk);
                byte[] out = new byte[b.length + junk.length];
                System.arraycopy(b, 0, out, 0, at);
                System.arraycopy(junk, 0, out, at, junk.length);
                System.arraycopy(b, at, out, at + junk.length, b.length - at);
                return out;
            }
            default: {
                byte[] junk = new byte[rnd.nextInt(2 * b.length)];
                rnd.nextBytes(junk);
                return junk;
            }
        }
    }

    private static int indexOfDigit(String s, int from) {
        for (int k = 0; k < s.length(); k++) {
            int i = (from + k) % s.length();
            if (Character.isDigit(s.charAt(i))) {
                return i;
            }
        }
        return -1;
    }

    /** Runs open-and-read on ROUNDS mutations of base written to target. */
    private static void fuzz(Path target, byte[] base, int headerEnd, long seed, Consumer<Path> openAndRead) {
        fuzz(target, base, headerEnd, seed, ROUNDS, openAndRead);
    }

    private static void fuzz(Path target, byte[] base, int headerEnd, long seed, int rounds, Consumer<Path> openAndRead) {
        SplittableRandom rnd = new SplittableRandom(seed);
        assertTimeoutPreemptively(Duration.ofMinutes(2), () -> {
            for (int round = 0; round < rounds; round++) {
                byte[] m = mutate(base, rnd, headerEnd);
                Files.write(target, m);
                try {
                    openAndRead.accept(target);
                } catch (SaeException expected) {
                    // a clear error is the right outcome for a damaged file
                } catch (RuntimeException | Error e) {
                    fail("round " + round + " (seed " + seed + "): " + e, e);
                }
            }
        });
    }

    private static void readEnds(ActivationSource s) {
        float[] row = new float[s.dIn()];
        if (s.numRows() > 0) {
            s.readRows(0, 1, row, 0);
            s.readRows(s.numRows() - 1, 1, row, 0);
        }
        s.close();
    }

    private static float[] values(int n) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = i * 0.25f - 3;
        }
        return x;
    }

    @Test
    void npy(@TempDir Path dir) throws IOException {
        Path base = dir.resolve("base.npy");
        NpyWriter.write(base, values(10 * 8), 10, 8);
        fuzz(dir.resolve("m.npy"), Files.readAllBytes(base), 128, 1, p -> readEnds(ActivationSources.open(p)));
    }

    @Test
    void npz(@TempDir Path dir) throws IOException {
        Path npy = dir.resolve("a.npy");
        NpyWriter.write(npy, values(10 * 8), 10, 8);
        Path base = dir.resolve("base.npz");
        try (java.util.zip.ZipOutputStream z = new java.util.zip.ZipOutputStream(Files.newOutputStream(base))) {
            z.putNextEntry(new java.util.zip.ZipEntry("acts.npy"));
            z.write(Files.readAllBytes(npy));
            z.closeEntry();
        }
        byte[] b = Files.readAllBytes(base);
        // the whole archive is structure: local header, deflate stream, central directory
        fuzz(dir.resolve("m.npz"), b, b.length, 2, 600, p -> readEnds(ActivationSources.open(p)));
    }

    @Test
    void safetensors(@TempDir Path dir) throws IOException {
        Path base = dir.resolve("base.safetensors");
        Safetensors.write(base, Map.of("acts", Safetensors.Tensor.of(values(10 * 8), 10, 8), "b", Safetensors.Tensor.of(values(3), 3)),
                Map.of("k", "v"));
        byte[] b = Files.readAllBytes(base);
        int headerEnd = 8 + (int) java.nio.ByteBuffer.wrap(b, 0, 8).order(java.nio.ByteOrder.LITTLE_ENDIAN).getLong();
        fuzz(dir.resolve("m.safetensors"), b, headerEnd, 3, p -> readEnds(ActivationSources.open(p, "acts")));
    }

    @Test
    void shardIndex(@TempDir Path dir) throws IOException {
        Path src = dir.resolve("a.npy");
        NpyWriter.write(src, values(10 * 8), 10, 8);
        Path shards = dir.resolve("shards");
        try (ActivationSource s = ActivationSources.open(src)) {
            ShardFolder.write(s, shards, "float32", 4 * 8 * 4, n -> { });
        }
        byte[] b = Files.readAllBytes(shards.resolve(ShardFolder.INDEX));
        fuzz(shards.resolve(ShardFolder.INDEX), b, b.length, 4, 400, p -> readEnds(ShardFolder.open(p.getParent())));
    }
}
