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
import java.util.zip.DataFormatException;
import java.util.zip.Inflater;
import org.saeforge.core.FileFormatException;
import org.saeforge.core.SaeException;

/**
 * A float32 or float16 dataset of an HDF5 file (as written by h5py), read with the pure-Java jhdf library: 2-D
 * {@code [rows, dIn]} or 3-D {@code [n, tokens, dIn]} flattened to rows. Contiguous datasets are memory-mapped
 * directly (jhdf only locates them); chunked ones (gzip, shuffle, and the other filters jhdf knows) are read chunk
 * by chunk, the few most recent decompressed chunks kept, so memory stays bounded by a handful of chunks. Sibling
 * datasets {@code modality}, {@code source_id}, {@code position} and {@code label} in the same group are the row
 * metadata.
 */
public final class Hdf5Source implements ActivationSource {
    private static final int DEFLATE = 1;
    private static final int SHUFFLE = 2;
    private static final int FLETCHER32 = 3;

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
    private final long[] gridDims;
    private final long[] chunkAddress;
    private final int[] chunkStored;
    private final int[] chunkMask;
    private final int[] filterIds;
    private final boolean ownPipeline;
    private final int chunkBytes;
    private final FileChannel channel;
    private final Inflater inflater;
    private final int elemBytes;
    private final ByteOrder order;
    private final Map<Long, float[]> cache;
    private byte[] raw;
    private byte[] inflated;
    private byte[] unshuffled;
    private final int cacheCapacity;
    private final FileGuard guard;
    private final RowMetadata metadata;

    private Hdf5Source(Path path, HdfFile file, Dataset ds, Group parent) throws IOException {
        this.path = path;
        this.name = Names.member(path, ds.getPath());
        this.file = file;
        long[] dims = ds.getDimensionsAsLong();
        this.dIn = (int) dims[dims.length - 1];
        this.numRows = dims.length == 2 ? dims[0] : Math.multiplyExact(dims[0], dims[1]);
        this.tokens = dims.length == 3 ? dims[1] : 1;
        FloatingPoint fp = (FloatingPoint) ds.getDataType();
        this.elemBytes = fp.getSize();
        this.dtype = elemBytes == 4 ? "float32" : "float16";
        this.order = fp.getByteOrder();
        this.guard = new FileGuard(path);
        long base = file.getHdfBackingStorage().getSuperblock().getBaseAddressByte();
        long fileSize = Files.size(path);
        if (ds instanceof ContiguousDataset c && order == ByteOrder.LITTLE_ENDIAN) {
            long addr = base + c.getDataAddress();
            long bytes = Math.multiplyExact(numRows, (long) dIn * elemBytes);
            if (c.getDataAddress() < 0 || addr + bytes > fileSize) {
                throw new FileFormatException(name, "truncated: data needs bytes up to " + (addr + bytes) + ", file has " + fileSize);
            }
            try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
                contiguous = new MappedRows(path, ch, addr, numRows, dIn,
                        elemBytes == 4 ? MappedRows.DType.FLOAT32 : MappedRows.DType.FLOAT16);
            }
            chunked = null;
            chunkDims = null;
            gridDims = null;
            chunkAddress = null;
            chunkStored = null;
            chunkMask = null;
            filterIds = null;
            ownPipeline = false;
            chunkBytes = 0;
            channel = null;
            inflater = null;
            cache = null;
            cacheCapacity = 0;
        } else if (ds instanceof ChunkedDataset c) {
            contiguous = null;
            chunked = c;
            chunkDims = c.getChunkDimensions();
            long cells = 1;
            gridDims = new long[dims.length];
            long bytes = elemBytes;
            for (int i = 0; i < dims.length; i++) {
                gridDims[i] = (dims[i] + chunkDims[i] - 1) / chunkDims[i];
                cells = Math.multiplyExact(cells, gridDims[i]);
                bytes *= chunkDims[i];
            }
            if (cells > Integer.MAX_VALUE - 8 || bytes > Integer.MAX_VALUE - 8) {
                throw new FileFormatException(name, "too many or too large chunks (" + cells + " chunks of " + bytes + " bytes)");
            }
            chunkBytes = (int) bytes;
            chunkAddress = new long[(int) cells];
            chunkStored = new int[(int) cells];
            chunkMask = new int[(int) cells];
            Arrays.fill(chunkAddress, -1);
            indexChunks(c, base, fileSize);
            List<io.jhdf.filter.PipelineFilterWithData> filters = c.getFilters();
            filterIds = new int[filters.size()];
            boolean own = true;
            for (int i = 0; i < filterIds.length; i++) {
                filterIds[i] = filters.get(i).getId();
                own &= filterIds[i] == DEFLATE || filterIds[i] == FLETCHER32 || (filterIds[i] == SHUFFLE && i == 0);
            }
            ownPipeline = own;
            channel = FileChannel.open(path, StandardOpenOption.READ);
            inflater = new Inflater();
            int colChunks = (dIn + chunkDims[chunkDims.length - 1] - 1) / chunkDims[chunkDims.length - 1];
            cacheCapacity = Math.max(4, 2 * colChunks);
            cache = new LinkedHashMap<>(16, 0.75f, true);
        } else {
            throw new FileFormatException(name, "unsupported HDF5 storage layout " + ds.getDataLayout()
                    + (order != ByteOrder.LITTLE_ENDIAN ? " with big-endian floats" : "") + "; re-save it with h5py as a contiguous or chunked dataset");
        }
        this.metadata = Hdf5Metadata.find(path, name, parent, dims);
    }

    /**
     * Records every chunk's address, stored size and filter mask by grid cell, checking each lies inside the file:
     * a truncated file fails here, before training, rather than at the missing chunk hours later. jhdf keeps its
     * chunk index behind a protected method; it is read once by reflection.
     */
    private void indexChunks(ChunkedDataset c, long base, long fileSize) {
        Map<?, ?> lookup;
        try {
            java.lang.reflect.Method m = io.jhdf.dataset.chunked.ChunkedDatasetBase.class.getDeclaredMethod("getChunkLookup");
            m.setAccessible(true);
            lookup = (Map<?, ?>) m.invoke(c);
        } catch (ReflectiveOperationException | ClassCastException e) {
            throw new FileFormatException(name, "cannot index chunks (" + e + ")");
        } catch (RuntimeException e) {
            throw new FileFormatException(name, "cannot read the chunk index, the file may be truncated (" + oneLine(e) + ")");
        }
        for (Object o : lookup.values()) {
            io.jhdf.dataset.chunked.Chunk ch = (io.jhdf.dataset.chunked.Chunk) o;
            long[] off = ch.getChunkOffset();
            long cell = 0;
            for (int i = 0; i < gridDims.length; i++) {
                long g = off[i] / chunkDims[i];
                if (off[i] % chunkDims[i] != 0 || g < 0 || g >= gridDims[i]) {
                    throw new FileFormatException(name, "corrupt chunk index: chunk at " + Arrays.toString(off));
                }
                cell = cell * gridDims[i] + g;
            }
            long addr = base + ch.getAddress();
            if (ch.getAddress() < 0 || ch.getSize() < 0 || addr + ch.getSize() > fileSize) {
                throw new FileFormatException(name, "truncated: the chunk at " + Arrays.toString(off) + " needs bytes up to "
                        + (addr + ch.getSize()) + ", file has " + fileSize);
            }
            chunkAddress[(int) cell] = addr;
            chunkStored[(int) cell] = ch.getSize();
            java.util.BitSet mask = ch.getFilterMask();
            chunkMask[(int) cell] = mask == null || mask.isEmpty() ? 0 : (int) mask.toLongArray()[0];
        }
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
        Path where = Names.member(path, d.getPath());
        if (!(t instanceof FloatingPoint) || (t.getSize() != 4 && t.getSize() != 2)) {
            throw new FileFormatException(where, "dtype " + describeType(t) + " is not supported; expected float32 or float16");
        }
        int rank = d.getDimensions().length;
        if (rank != 2 && rank != 3) {
            throw new FileFormatException(where, "expected a 2-D [rows, d_in] or 3-D [n, tokens, d_in] dataset, got shape "
                    + Arrays.toString(d.getDimensionsAsLong()));
        }
        long dIn = d.getDimensionsAsLong()[rank - 1];
        if (dIn <= 0 || dIn > Integer.MAX_VALUE / 4) {
            throw new FileFormatException(where, "bad width " + dIn);
        }
    }

    private static String describeType(DataType t) {
        if (t instanceof FloatingPoint) {
            return "float" + t.getSize() * 8;
        }
        if (t instanceof io.jhdf.object.datatype.FixedPoint f) {
            return (f.isSigned() ? "int" : "uint") + t.getSize() * 8;
        }
        return t.getClass().getSimpleName().toLowerCase(java.util.Locale.ROOT);
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
            } catch (IOException | RuntimeException e) {
                guard.check();
                throw new FileFormatException(name, "cannot read rows " + first + ".." + (first + count) + " (" + oneLine(e) + ")");
            }
        }
    }

    private void readChunked(long first, int count, float[] dst, int dstOffset) throws IOException {
        int rank = chunkDims.length;
        int cc = chunkDims[rank - 1];
        long[] cellOf = new long[rank];
        for (int r = 0; r < count; r++) {
            long row = first + r;
            int inChunkRow;
            if (rank == 2) {
                cellOf[0] = row / chunkDims[0];
                inChunkRow = (int) (row % chunkDims[0]);
            } else {
                long a = row / tokens;
                long b = row % tokens;
                cellOf[0] = a / chunkDims[0];
                cellOf[1] = b / chunkDims[1];
                inChunkRow = (int) ((a % chunkDims[0]) * chunkDims[1] + b % chunkDims[1]);
            }
            int out = dstOffset + r * dIn;
            for (int j0 = 0, jc = 0; j0 < dIn; j0 += cc, jc++) {
                cellOf[rank - 1] = jc;
                long cell = 0;
                for (int i = 0; i < rank; i++) {
                    cell = cell * gridDims[i] + cellOf[i];
                }
                float[] chunk = chunk(cell, cellOf);
                System.arraycopy(chunk, inChunkRow * cc, dst, out + j0, Math.min(cc, dIn - j0));
            }
        }
    }

    private float[] chunk(long cell, long[] cellOf) throws IOException {
        float[] f = cache.get(cell);
        if (f != null) {
            return f;
        }
        float[] recycled = null;
        if (cache.size() >= cacheCapacity) {
            Long eldest = cache.keySet().iterator().next();
            recycled = cache.remove(eldest);
        }
        int[] origin = new int[cellOf.length];
        for (int i = 0; i < origin.length; i++) {
            origin[i] = (int) (cellOf[i] * chunkDims[i]);
        }
        if (chunkAddress[(int) cell] < 0) {
            throw new FileFormatException(name, "the chunk at " + Arrays.toString(origin) + " was never written (no data stored there)");
        }
        int elems = chunkBytes / elemBytes;
        f = recycled != null ? recycled : new float[elems];
        if (ownPipeline) {
            decode((int) cell, f);
        } else {
            byte[] bytes = chunked.getDecompressedChunk(origin);
            if (bytes.length < chunkBytes) {
                throw new FileFormatException(name, "chunk at " + Arrays.toString(origin) + " decodes to " + bytes.length
                        + " bytes, expected " + chunkBytes);
            }
            toFloats(bytes, false, f);
        }
        cache.put(cell, f);
        return f;
    }

    /**
     * Reads a chunk, undoes its filters (last applied first; those its filter mask marks as skipped are left out)
     * and widens it into {@code out}. The shuffle filter, always first in h5py's pipeline, is undone while widening.
     */
    private void decode(int cell, float[] out) throws IOException {
        int stored = chunkStored[cell];
        if (inflated == null) {
            inflated = new byte[chunkBytes];
        }
        if (raw == null || raw.length < stored) {
            raw = new byte[Math.max(stored, chunkBytes)];
        }
        ByteBuffer buf = ByteBuffer.wrap(raw, 0, stored);
        long pos = chunkAddress[cell];
        while (buf.hasRemaining()) {
            if (channel.read(buf, pos + buf.position()) < 0) {
                throw new FileFormatException(name, "truncated: a chunk ends past the end of the file");
            }
        }
        byte[] data = raw;
        int len = stored;
        boolean shuffled = false;
        for (int f = filterIds.length - 1; f >= 0; f--) {
            if ((chunkMask[cell] & (1 << f)) != 0) {
                continue;
            }
            if (filterIds[f] == DEFLATE) {
                inflater.reset();
                inflater.setInput(data, 0, len);
                byte[] target = data == inflated ? new byte[chunkBytes] : inflated;
                int n;
                try {
                    n = inflater.inflate(target);
                } catch (DataFormatException e) {
                    throw new FileFormatException(name, "corrupt gzip chunk (" + e.getMessage() + ")");
                }
                if (!inflater.finished() || n != chunkBytes) {
                    throw new FileFormatException(name, "corrupt gzip chunk: inflates to " + (inflater.finished() ? "" : "more than ") + n
                            + " bytes, expected " + chunkBytes);
                }
                data = target;
                len = n;
            } else if (filterIds[f] == FLETCHER32) {
                len -= 4;
            } else {
                shuffled = true;
            }
        }
        if (len != chunkBytes) {
            throw new FileFormatException(name, "chunk holds " + len + " bytes after decoding, expected " + chunkBytes);
        }
        toFloats(data, shuffled, out);
    }

    /** Widens chunkBytes of little- or big-endian float32/float16 into floats, undoing byte shuffling if asked. */
    private void toFloats(byte[] b, boolean shuffled, float[] out) {
        int n = chunkBytes / elemBytes;
        byte[] plain = b;
        if (shuffled) {
            // one pass of sequential writes from elemBytes sequential read streams, then a bulk conversion
            if (unshuffled == null) {
                unshuffled = new byte[chunkBytes];
            }
            plain = unshuffled;
            if (elemBytes == 4) {
                for (int e = 0, o = 0; e < n; e++, o += 4) {
                    plain[o] = b[e];
                    plain[o + 1] = b[n + e];
                    plain[o + 2] = b[2 * n + e];
                    plain[o + 3] = b[3 * n + e];
                }
            } else {
                for (int e = 0, o = 0; e < n; e++, o += 2) {
                    plain[o] = b[e];
                    plain[o + 1] = b[n + e];
                }
            }
        }
        ByteBuffer bb = ByteBuffer.wrap(plain, 0, chunkBytes).order(order);
        if (elemBytes == 4) {
            bb.asFloatBuffer().get(out, 0, n);
        } else {
            for (int e = 0; e < n; e++) {
                out[e] = HalfTable.toFloat(bb.getShort(2 * e));
            }
        }
    }

    @Override
    public void close() {
        file.close();
        if (channel != null) {
            try {
                channel.close();
            } catch (IOException e) {
                // read-only channel: nothing to lose
            }
            inflater.end();
        }
    }
}
