package org.saeforge.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import java.util.zip.ZipFile;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.saeforge.core.data.NpyWriter;
import org.saeforge.core.io.Json;
import org.saeforge.core.io.SaeLensFormat;
import org.saeforge.core.kernels.cpu.ReferenceKernels;
import org.saeforge.core.model.Architecture;
import org.saeforge.core.model.SparseAutoencoder;
import org.saeforge.core.tensor.FloatMatrix;
import org.saeforge.core.tensor.SparseCodes;

class EncodeCommandTest {
    private static final int ROWS = 1000;
    private static final int D = 10;
    private static final int N = 24;

    @TempDir
    Path tmp;
    private Path sae;
    private Path data;
    private FloatMatrix x;

    @BeforeEach
    void setUp() {
        sae = tmp.resolve("sae");
        SaeLensFormat.write(Cli.randomSae(Architecture.TOPK, D, N, 3, 9), sae, null);
        x = FloatMatrix.random(ROWS, D, 10, 1f);
        x.set(7, 2, Float.NaN);
        data = tmp.resolve("x.npy");
        NpyWriter.write(data, x);
    }

    /** Dense codes by the reference kernels, with the NaN row 7 empty. */
    private FloatMatrix expected() {
        FloatMatrix clean = x.copy();
        for (int i = 0; i < D; i++) {
            clean.set(7, i, 0f);
        }
        SparseAutoencoder model = SparseAutoencoder.load(sae);
        SparseCodes codes = model.newCodes(ROWS);
        try (ReferenceKernels k = new ReferenceKernels()) {
            k.encode(clean, model, codes, null);
        }
        FloatMatrix dense = codes.toDense();
        for (int j = 0; j < N; j++) {
            dense.set(7, j, 0f);
        }
        return dense;
    }

    private static ByteBuffer npyData(ZipFile zip, String name) throws IOException {
        byte[] all = zip.getInputStream(zip.getEntry(name)).readAllBytes();
        ByteBuffer b = ByteBuffer.wrap(all).order(ByteOrder.LITTLE_ENDIAN);
        int headerLen = b.getShort(8) & 0xffff;
        b.position(10 + headerLen);
        return b.slice().order(ByteOrder.LITTLE_ENDIAN);
    }

    @Test
    void codesMatchTheReferenceEncoder() throws IOException {
        Path out = tmp.resolve("codes.npz");
        Cli.Result r = Cli.run("encode", "--sae", sae.toString(), "--data", data.toString(), "--out", out.toString(), "--device", "cpu-ref",
                "--batch-size", "300");
        assertEquals(0, r.code(), r.err());
        JsonNode line = Json.mapper().readTree(r.lastLine());
        assertEquals(ROWS, line.get("rows").asLong());
        assertEquals(1, line.get("bad_rows").asLong());
        FloatMatrix want = expected();
        FloatMatrix got = new FloatMatrix(ROWS, N);
        try (ZipFile zip = new ZipFile(out.toFile())) {
            ByteBuffer indptr = npyData(zip, "indptr.npy");
            ByteBuffer indices = npyData(zip, "indices.npy");
            ByteBuffer values = npyData(zip, "data.npy");
            for (int row = 0; row < ROWS; row++) {
                for (long p = indptr.getLong(row * 8); p < indptr.getLong((row + 1) * 8); p++) {
                    got.set(row, indices.getInt((int) p * 4), values.getFloat((int) p * 4));
                }
            }
            assertEquals(line.get("nnz").asLong(), indptr.getLong(ROWS * 8));
        }
        assertArrayEquals(want.data(), got.data());
    }

    @Test
    void badRowsCanBeFatal() {
        Cli.Result r = Cli.run("encode", "--sae", sae.toString(), "--data", data.toString(), "--out", tmp.resolve("c.npz").toString(),
                "--on-bad-rows", "fail");
        assertEquals(2, r.code());
        assertTrue(r.err().contains("row 7 holds NaN"), r.err());
        assertTrue(!Files.exists(tmp.resolve("c.npz")), "no partial output");
    }

    /** The first python3 with numpy: $SAE_PYTHON, then python3 on the PATH, then /usr/bin/python3; null if none. */
    static Path python() throws IOException, InterruptedException {
        java.util.List<String> candidates = new java.util.ArrayList<>();
        candidates.add(System.getenv("SAE_PYTHON"));
        for (String dir : System.getenv().getOrDefault("PATH", "").split(java.io.File.pathSeparator)) {
            candidates.add(Path.of(dir, "python3").toString());
        }
        candidates.add("/usr/bin/python3");
        for (String p : candidates) {
            if (p != null && Files.isExecutable(Path.of(p)) && hasModule(Path.of(p), "numpy")) {
                return Path.of(p);
            }
        }
        return null;
    }

    static boolean hasModule(Path python, String module) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(python.toString(), "-c", "import " + module).redirectErrorStream(true).start();
        p.getInputStream().readAllBytes();
        return p.waitFor(60, TimeUnit.SECONDS) && p.exitValue() == 0;
    }

    /** numpy (and scipy.sparse, when installed) reads the file as the CSR matrix of the reference codes. */
    @Test
    void numpyAndScipyLoadTheCodes() throws Exception {
        Path python = python();
        assumeTrue(python != null, "python3 with numpy not available; npz check skipped");
        Path out = tmp.resolve("codes.npz");
        assertEquals(0, Cli.run("encode", "--sae", sae.toString(), "--data", data.toString(), "--out", out.toString(), "--device", "cpu-ref")
                .code());
        Path expect = tmp.resolve("expect.npy");
        NpyWriter.write(expect, expected());
        String script = String.join("\n",
                "import sys, numpy as np",
                "d = np.load(sys.argv[1])",
                "assert sorted(d.files) == ['data', 'indices', 'indptr', 'shape'], d.files",
                "assert d['indptr'].dtype == np.int64 and d['indices'].dtype == np.int32, (d['indptr'].dtype, d['indices'].dtype)",
                "assert d['data'].dtype == np.float32 and d['shape'].dtype == np.int64",
                "rows, cols = (int(v) for v in d['shape'])",
                "dense = np.zeros((rows, cols), np.float32)",
                "ip, ix, dv = d['indptr'], d['indices'], d['data']",
                "for r in range(rows):",
                "    assert np.all(np.diff(ix[ip[r]:ip[r + 1]]) > 0), 'indices sorted within a row'",
                "    dense[r, ix[ip[r]:ip[r + 1]]] = dv[ip[r]:ip[r + 1]]",
                "want = np.load(sys.argv[2])",
                "assert np.array_equal(dense, want), 'codes differ'",
                "try:",
                "    import scipy.sparse",
                "except ImportError:",
                "    print('ok numpy'); sys.exit(0)",
                "m = scipy.sparse.csr_matrix((dv, ix, ip), shape=tuple(d['shape']))",
                "assert m.has_canonical_format and np.array_equal(m.toarray(), want)",
                "print('ok numpy scipy')",
                "");
        Path py = tmp.resolve("check.py");
        Files.writeString(py, script);
        Process p = new ProcessBuilder(python.toString(), py.toString(), out.toString(), expect.toString()).redirectErrorStream(true).start();
        String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(120, TimeUnit.SECONDS));
        assertEquals(0, p.exitValue(), output);
        assertTrue(output.startsWith("ok numpy"), output);
        System.out.println("npz check: " + output.strip());
    }
}
