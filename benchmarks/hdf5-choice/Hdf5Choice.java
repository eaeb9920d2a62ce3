import static org.bytedeco.hdf5.global.hdf5.*;

import io.jhdf.HdfFile;
import io.jhdf.api.Dataset;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import org.bytedeco.javacpp.FloatPointer;
import org.saeforge.core.data.ActivationSource;
import org.saeforge.core.data.Hdf5Source;

/**
 * The measurement behind the HDF5 library choice (benchmarks/results/hdf5-choice-*.json). Not part of the build: it
 * needs org.bytedeco:hdf5 (HDF5 C library bindings), which SAEForge does not depend on. Run as a single-file program
 * with sae-core's classes, jhdf and bytedeco hdf5 on the class path (see docs/data.md). Writes a [rows x 768] float32
 * file with a chunked gzip+shuffle dataset (as h5py's compression="gzip", shuffle=True) and a contiguous one, then
 * reads each in 4096-row slices: with SAEForge's Hdf5Source (jhdf), with jhdf's own getData(offset, shape), and with
 * the HDF5 C library (hyperslab reads). Best of 3 passes, page cache warm.
 */
public class Hdf5Choice {
    static final int D = 768;
    static final int SLICE = 4096;

    public static void main(String[] args) throws Exception {
        Path file = Path.of(args[0]);
        int rows = Integer.parseInt(args[1]);
        if (!Files.exists(file)) {
            write(file, rows);
        }
        double mb = rows * (double) D * 4 / 1e6;
        System.out.printf("file %s, %d MB on disk, %.0f MB as float32%n", file, Files.size(file) / 1000000, mb);
        for (String ds : new String[] {"/gzip", "/contig"}) {
            System.out.printf("%s saeforge-jhdf %.0f MB/s%n", ds, mb / best(() -> readSaeforge(file, ds, rows)));
            System.out.printf("%s jhdf-getData %.0f MB/s%n", ds, mb / best(() -> readJhdf(file, ds, rows)));
            System.out.printf("%s hdf5-c %.0f MB/s%n", ds, mb / best(() -> readNative(file, ds, rows)));
        }
    }

    interface Run {
        double run() throws Exception;
    }

    static double best(Run r) throws Exception {
        double best = Double.MAX_VALUE;
        for (int i = 0; i < 3; i++) {
            long t = System.nanoTime();
            double check = r.run();
            double s = (System.nanoTime() - t) / 1e9;
            best = Math.min(best, s);
            if (i == 0) {
                System.out.printf("  checksum %.6e%n", check);
            }
        }
        return best;
    }

    static double readSaeforge(Path file, String ds, int rows) {
        double sum = 0;
        float[] buf = new float[SLICE * D];
        try (ActivationSource s = Hdf5Source.open(file, ds)) {
            for (int first = 0; first < rows; first += SLICE) {
                int n = Math.min(SLICE, rows - first);
                s.readRows(first, n, buf, 0);
                sum += buf[0] + buf[n * D - 1];
            }
        }
        return sum;
    }

    static double readJhdf(Path file, String ds, int rows) {
        double sum = 0;
        try (HdfFile h = new HdfFile(file)) {
            Dataset d = h.getDatasetByPath(ds);
            for (int first = 0; first < rows; first += SLICE) {
                int n = Math.min(SLICE, rows - first);
                float[][] a = (float[][]) d.getData(new long[] {first, 0}, new int[] {n, D});
                sum += a[0][0] + a[n - 1][D - 1];
            }
        }
        return sum;
    }

    static double readNative(Path file, String ds, int rows) {
        double sum = 0;
        long f = H5Fopen(file.toString(), H5F_ACC_RDONLY(), H5P_DEFAULT());
        long d = H5Dopen2(f, ds, H5P_DEFAULT());
        long fs = H5Dget_space(d);
        FloatPointer buf = new FloatPointer((long) SLICE * D);
        for (int first = 0; first < rows; first += SLICE) {
            int n = Math.min(SLICE, rows - first);
            H5Sselect_hyperslab(fs, H5S_SELECT_SET, new long[] {first, 0}, null, new long[] {n, D}, (long[]) null);
            long ms = H5Screate_simple(2, new long[] {n, D}, (long[]) null);
            H5Dread(d, H5T_NATIVE_FLOAT_g(), ms, fs, H5P_DEFAULT(), buf);
            H5Sclose(ms);
            sum += buf.get(0) + buf.get((long) n * D - 1);
        }
        buf.close();
        H5Sclose(fs);
        H5Dclose(d);
        H5Fclose(f);
        return sum;
    }

    static void write(Path file, int rows) {
        long f = H5Fcreate(file.toString(), H5F_ACC_TRUNC(), H5P_DEFAULT(), H5P_DEFAULT());
        long space = H5Screate_simple(2, new long[] {rows, D}, (long[]) null);
        long dcpl = H5Pcreate(H5P_CLS_DATASET_CREATE_ID_g());
        H5Pset_chunk(dcpl, 2, new long[] {256, D});
        H5Pset_shuffle(dcpl);
        H5Pset_deflate(dcpl, 4);
        long gz = H5Dcreate2(f, "/gzip", H5T_IEEE_F32LE_g(), space, H5P_DEFAULT(), dcpl, H5P_DEFAULT());
        long ct = H5Dcreate2(f, "/contig", H5T_IEEE_F32LE_g(), space, H5P_DEFAULT(), H5P_DEFAULT(), H5P_DEFAULT());
        Random rnd = new Random(1);
        FloatPointer buf = new FloatPointer((long) SLICE * D);
        float[] tmp = new float[SLICE * D];
        for (int first = 0; first < rows; first += SLICE) {
            int n = Math.min(SLICE, rows - first);
            for (int i = 0; i < n * D; i++) {
                // activation-like values: gaussian, a few heavy coordinates
                tmp[i] = (float) (rnd.nextGaussian() * ((i % D) < 8 ? 20 : 1));
            }
            buf.put(tmp, 0, n * D);
            long ms = H5Screate_simple(2, new long[] {n, D}, (long[]) null);
            for (long d : new long[] {gz, ct}) {
                long fs = H5Dget_space(d);
                H5Sselect_hyperslab(fs, H5S_SELECT_SET, new long[] {first, 0}, null, new long[] {n, D}, (long[]) null);
                H5Dwrite(d, H5T_NATIVE_FLOAT_g(), ms, fs, H5P_DEFAULT(), buf);
                H5Sclose(fs);
            }
            H5Sclose(ms);
        }
        H5Dclose(gz);
        H5Dclose(ct);
        H5Pclose(dcpl);
        H5Sclose(space);
        H5Fclose(f);
    }
}
