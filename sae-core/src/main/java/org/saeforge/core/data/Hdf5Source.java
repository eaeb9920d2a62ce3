package org.saeforge.core.data;

import io.jhdf.HdfFile;
import io.jhdf.api.Dataset;
import io.jhdf.api.Group;
import io.jhdf.api.Node;
import io.jhdf.api.dataset.ChunkedDataset;
import io.jhdf.api.dataset.ContiguousDataset;
import io.jhdf.object.datatype.DataType;
import io.jhdf.object.datatype.FloatingPoint;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.saeforge.core.FileFormatException;
import org.saeforge.core.SaeException;
import org.saeforge.core.tensor.Half;

/**
 * A float32 or float16 dataset of an HDF5 file (as written by h5py), read with the pure-Java jhdf library: 2-D
 * {@code [rows, dIn]} or 3-D {@code [n, tokens, dIn]} flattened to rows. Contiguous datasets are memory-mapped
 * directly (jhdf only locates them); chunked ones (gzip, shuffle, and the other filters jhdf knows) are read chunk
 * by chunk, the few most recent decompressed chunks kept, so memory stays bounded by a handful of chunks. Sibling
 * datasets {@code modality}, {@code source_id}, {@code position} and {@code label} in the same group are the row
 * metadata.
 */
public final class Hdf5Source implements ActivationSource {
    private final Path path;
    private final Path name;
    private final HdfFile file;
    private final int dIn;
    private final long numRows;
    private final long tokens;
    private final String dtype;
    private final MappedRows contiguous;
    private final ChunkedDataset chunked;
    private final int[] chunkDims;
    private final int elemBytes;
    private final ByteOrder order;
    private final Map<List<Integer>, ByteBuffer> cache;
    private final int cacheCapacity;
    private final FileGuard guard;
    private final RowMetadata metadata;

    private Hdf5Source(Path path, HdfFile file, Dataset ds, Group parent) throws IOException {
        this.path = path;
        this.name = Path.of(path + ":" + ds.getPath());
        this.file = file;
        long[] dims = ds.getDimensionsAsLong();
        this.dIn = (int) dims[dims.length - 1];
        this.numRows = dims.length == 2 ? dims[0] : dims[0] * dims[1];
        this.tokens = dims.length == 3 ? dims[1] : 1;
        FloatingPoint fp = (FloatingPoint) ds.getDataType();
        this.elemBytes = fp.getSize();
        this.dtype = elemBytes == 4 ? "float32" : "float16";
        this.order = fp.getByteOrder();
        this.guard = new FileGuard(path);
        if (ds instanceof ContiguousDataset c && order == ByteOrder.LITTLE_ENDIAN) {
            long addr = c.getDataAddress();
            long bytes = Math.multiplyExact(numRows, (long) dIn * elemBytes);
            if (addr < 0 || addr + bytes > Files.size(path)) {
                throw new FileFormatException(name, "truncated: data needs bytes up to " + (addr + bytes) + ", file has " + Files.size(path));
            }
            try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
                contiguous = new MappedRows(path, ch, addr, numRows, dIn,
                        elemBytes == 4 ? MappedRows.DType.FLOAT32 : MappedRows.DType.FLOAT16);
            }
            chunked = null;
            chunkDims = null;
            cache = null;
            cacheCapacity = 0;
        } else if (ds instanceof ChunkedDataset c) {
            contiguous = null;
            chunked = c;
            chunkDims = c.getChunkDimensions();
            int colChunks = (dIn + chunkDims[chunkDims.length - 1] - 1) / chunkDims[chunkDims.length - 1];
            cacheCapacity = Math.max(4, 2 * colChunks);
            cache = new LinkedHashMap<>(16, 0.75f, true);
        } else {
            throw new FileFormatException(name, "unsupported HDF5 storage layout " + ds.getDataLayout()
                    + (order != ByteOrder.LITTLE_ENDIAN ? " with big-endian floats" : "") + "; re-save it with h5py as a contiguous or chunked dataset");
        }
        this.metadata = Hdf5Metadata.find(path, name, parent, dims);
    }

    /** Opens dataset {@code dataset} (an HDF5 path such as {@code /layers/vision/patches}), or the only float one. */
    public static Hdf5Source open(Path path, String dataset) {
        if (!Files.isRegularFile(path)) {
            throw new FileFormatException(path, "file not found");
        }
        HdfFile file;
        try {
            file = new HdfFile(path);
        } catch (RuntimeException e) {
            throw new FileFormatException(path, "not a readable HDF5 file, or truncated (" + oneLine(e) + ")");
        }
        try {
            long eof = file.getHdfBackingStorage().getSuperblock().getEndOfFileAddress();
            long size = Files.size(path);
            if (eof > size) {
                throw new FileFormatException(path, "truncated: the HDF5 superblock says the file ends at byte " + eof + ", it has " + size);
            }
            Dataset ds;
            if (dataset != null) {
                Node n;
                try {
                    n = file.getByPath(dataset.startsWith("/") ? dataset.substring(1) : dataset);
                } catch (RuntimeException e) {
                    n = null;
                }
                if (!(n instanceof Dataset)) {
                    throw new FileFormatException(path, "no dataset named \"" + dataset + "\" (has " + describe(allDatasets(file)) + ")");
                }
                ds = (Dataset) n;
                checkActivationDataset(path, ds);
            } else {
                List<Dataset> all = allDatasets(file);
                List<Dataset> candidates = new ArrayList<>();
                for (Dataset d : all) {
                    if (isFloatMatrix(d)) {
                        candidates.add(d);
                    }
                }
                if (candidates.size() != 1) {
                    throw new FileFormatException(path, (candidates.isEmpty() ? "has no 2-D or 3-D float32/float16 dataset"
                            : "has several float datasets " + describe(candidates) + "; pick one with --dataset")
                            + (candidates.isEmpty() ? " (has " + describe(all) + ")" : ""));
                }
                ds = candidates.get(0);
            }
            return new Hdf5Source(path, file, ds, ds.getParent());
        } catch (SaeException e) {
            file.close();
            throw e;
        } catch (IOException | RuntimeException e) {
            file.close();
            throw new FileFormatException(path, "cannot read HDF5 (" + oneLine(e) + ")");
        }
    }

    private static String oneLine(Exception e) {
        String m = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
        return m.replace('\n', ' ');
    }

    private static boolean isFloatMatrix(Dataset d) {
        int rank = d.getDimensions().length;
        DataType t = d.getDataType();
        return (rank == 2 || rank == 3) && t instanceof FloatingPoint && (t.getSize() == 4 || t.getSize() == 2);
    }

    private static void checkActivationDataset(Path path, Dataset d) {
        DataType t = d.getDataType();
        String where = path + ":" + d.getPath();
        if (!(t instanceof FloatingPoint) || (t.getSize() != 4 && t.getSize() != 2)) {
            throw new FileFormatException(Path.of(where), "dtype " + describeType(t) + " is not supported; expected float32 or float16");
        }
        int rank = d.getDimensions().length;
        if (rank != 2 && rank != 3) {
            throw new FileFormatException(Path.of(where), "expected a 2-D [rows, d_in] or 3-D [n, tokens, d_in] dataset, got shape "
                    + Arrays.toString(d.getDimensionsAsLong()));
        }
        long dIn = d.getDimensionsAsLong()[rank - 1];
        if (dIn <= 0 || dIn > Integer.MAX_VALUE / 4) {
            throw new FileFormatException(Path.of(where), "bad width " + dIn);
        }
    }

    private static String describeType(DataType t) {
        String kind = t.getClass().getSimpleName();
        return (t instanceof FloatingPoint ? "float" : kind.toLowerCase(java.util.Locale.ROOT)) + (t.getSize() * 8);
    }

    private static List<Dataset> allDatasets(Group g) {
        List<Dataset> out = new ArrayList<>();
        for (Node n : g) {
            if (n.isLink()) {
                continue;
            }
            if (n instanceof Dataset d) {
                out.add(d);
            } else if (n instanceof Group sub) {
                out.addAll(allDatasets(sub));
            }
        }
        return out;
    }

    private static String describe(List<Dataset> ds) {
        List<String> parts = new ArrayList<>();
        for (Dataset d : ds) {
            parts.add(d.getPath() + " " + describeType(d.getDataType()) + Arrays.toString(d.getDimensionsAsLong()));
        }
        return parts.isEmpty() ? "no datasets" : String.join(", ", parts);
    }

    @Override
    public Path path() {
        return name;
    }

    @Override
    public int dIn() {
        return dIn;
    }

    @Override
    public long numRows() {
        return numRows;
    }

    @Override
    public String dtype() {
        return dtype;
    }

    @Override
    public RowMetadata metadata() {
        return metadata;
    }

    @Override
    public void readRows(long first, int count, float[] dst, int dstOffset) {
        if (first < 0 || count < 0 || first + count > numRows) {
            throw new IndexOutOfBoundsException("rows [" + first + ", " + (first + count) + ") outside [0, " + numRows + ") of " + name);
        }
        if (contiguous != null) {
            contiguous.readRows(first, count, dst, dstOffset);
            return;
        }
        guard.check();
        synchronized (this) {
            try {
                readChunked(first, count, dst, dstOffset);
            } catch (SaeException e) {
                throw e;
            } catch (RuntimeException e) {
                guard.check();
                throw new FileFormatException(name, "cannot read rows " + first + ".." + (first + count) + " (" + oneLine(e) + ")");
            }
        }
    }

    private void readChunked(long first, int count, float[] dst, int dstOffset) {
        int rank = chunkDims.length;
        int cc = chunkDims[rank - 1];
        int[] origin = new int[rank];
        for (int r = 0; r < count; r++) {
            long row = first + r;
            int inChunkRow;
            if (rank == 2) {
                int i = (int) row;
                origin[0] = i - i % chunkDims[0];
                inChunkRow = i % chunkDims[0];
            } else {
                int a = (int) (row / tokens);
                int b = (int) (row % tokens);
                origin[0] = a - a % chunkDims[0];
                origin[1] = b - b % chunkDims[1];
                inChunkRow = (a % chunkDims[0]) * chunkDims[1] + b % chunkDims[1];
            }
            int out = dstOffset + r * dIn;
            for (int j0 = 0; j0 < dIn; j0 += cc) {
                origin[rank - 1] = j0;
                ByteBuffer chunk = chunk(origin);
                int n = Math.min(cc, dIn - j0);
                int base = (inChunkRow * cc) * elemBytes;
                if (elemBytes == 4) {
                    for (int j = 0; j < n; j++) {
                        dst[out + j0 + j] = chunk.getFloat(base + 4 * j);
                    }
                } else {
                    for (int j = 0; j < n; j++) {
                        dst[out + j0 + j] = Half.toFloat(chunk.getShort(base + 2 * j));
                    }
                }
            }
        }
    }

    private ByteBuffer chunk(int[] origin) {
        List<Integer> key = new ArrayList<>(origin.length);
        for (int o : origin) {
            key.add(o);
        }
        ByteBuffer b = cache.get(key);
        if (b == null) {
            byte[] bytes = chunked.getDecompressedChunk(origin.clone());
            long need = (long) elemBytes;
            for (int c : chunkDims) {
                need *= c;
            }
            if (bytes.length < need) {
                throw new FileFormatException(name, "chunk at " + Arrays.toString(origin) + " decompresses to " + bytes.length
                        + " bytes, expected " + need);
            }
            b = ByteBuffer.wrap(bytes).order(order);
            if (cache.size() >= cacheCapacity) {
                cache.remove(cache.keySet().iterator().next());
            }
            cache.put(key, b);
        }
        return b;
    }

    @Override
    public void close() {
        file.close();
    }
}
