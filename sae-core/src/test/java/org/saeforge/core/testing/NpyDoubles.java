package org.saeforge.core.testing;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import org.saeforge.core.data.NpyFile;

/** Reads small float64 .npy files (expected outputs written by numpy) for tests. */
public final class NpyDoubles {
    private NpyDoubles() {
    }

    public static double[] read(Path path) throws IOException {
        NpyFile h = NpyFile.readHeader(path);
        if (!"<f8".equals(h.descr())) {
            throw new IllegalArgumentException(path + " is " + h.descr() + ", expected <f8");
        }
        byte[] all = Files.readAllBytes(path);
        ByteBuffer b = ByteBuffer.wrap(all, (int) h.dataOffset(), all.length - (int) h.dataOffset()).order(ByteOrder.LITTLE_ENDIAN);
        double[] out = new double[(int) h.elements()];
        b.slice().order(ByteOrder.LITTLE_ENDIAN).asDoubleBuffer().get(out);
        return out;
    }
}
