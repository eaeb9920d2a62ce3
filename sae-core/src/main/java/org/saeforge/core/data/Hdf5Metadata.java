package org.saeforge.core.data;

import io.jhdf.api.Dataset;
import io.jhdf.api.Group;
import io.jhdf.api.Node;
import java.lang.reflect.Array;
import java.nio.file.Path;
import java.util.Arrays;
import org.saeforge.core.FileFormatException;
import org.saeforge.core.SaeException;

/**
 * Row metadata from the sibling datasets of an HDF5 activation dataset: {@code modality} (uint8 0 = image, 1 = text,
 * or strings), {@code source_id}, {@code position} (integers) and {@code label} (UTF-8 strings), each with one
 * entry per row ({@code [rows]}, or {@code [n, tokens]} for 3-D activations). Each column is checked when the source
 * opens and loaded on first use, held compactly (about 17 bytes per row plus the label strings).
 */
final class Hdf5Metadata implements RowMetadata {
    private final Path name;
    private final Dataset modalityDs;
    private final Dataset sourceIdDs;
    private final Dataset positionDs;
    private final Dataset labelDs;
    private byte[] modality;
    private long[] sourceId;
    private long[] position;
    private String[] label;

    private Hdf5Metadata(Path name, Dataset modality, Dataset sourceId, Dataset position, Dataset label) {
        this.name = name;
        this.modalityDs = modality;
        this.sourceIdDs = sourceId;
        this.positionDs = position;
        this.labelDs = label;
    }

    /** The metadata beside an activation dataset of shape {@code dims}, or null when there is none. */
    static RowMetadata find(Path file, Path name, Group parent, long[] dims) {
        Dataset m = column(file, parent, "modality", dims);
        Dataset s = column(file, parent, "source_id", dims);
        Dataset p = column(file, parent, "position", dims);
        Dataset l = column(file, parent, "label", dims);
        if (m == null && s == null && p == null && l == null) {
            return null;
        }
        long rows = dims.length == 2 ? dims[0] : dims[0] * dims[1];
        if (rows > Integer.MAX_VALUE - 8) {
            throw new FileFormatException(name, "row metadata for " + rows + " rows is not supported; convert to a shard folder");
        }
        return new Hdf5Metadata(name, m, s, p, l);
    }

    private static Dataset column(Path file, Group parent, String column, long[] dims) {
        Node n = parent.getChildren().get(column);
        if (!(n instanceof Dataset d)) {
            return null;
        }
        long[] shape = d.getDimensionsAsLong();
        long[] want = dims.length == 2 ? new long[] {dims[0]} : new long[] {dims[0], dims[1]};
        long rows = dims.length == 2 ? dims[0] : dims[0] * dims[1];
        boolean ok = Arrays.equals(shape, want) || (shape.length == 1 && shape[0] == rows);
        if (!ok) {
            throw new FileFormatException(Names.member(file, d.getPath()), "row metadata has shape " + Arrays.toString(shape)
                    + " but the activations have " + rows + " rows");
        }
        return d;
    }

    private Object flatData(Dataset d) {
        try {
            Object data = d.getData();
            if (d.getDimensions().length == 1) {
                return data;
            }
            int outer = Array.getLength(data);
            int inner = outer == 0 ? 0 : Array.getLength(Array.get(data, 0));
            Object flat = Array.newInstance(data.getClass().getComponentType().getComponentType(), outer * inner);
            for (int i = 0; i < outer; i++) {
                System.arraycopy(Array.get(data, i), 0, flat, i * inner, inner);
            }
            return flat;
        } catch (SaeException e) {
            throw e;
        } catch (RuntimeException e) {
            throw new FileFormatException(Names.member(name, d.getPath()), "cannot read row metadata (" + e.getMessage() + ")");
        }
    }

    private long[] longs(Dataset d) {
        Object data = flatData(d);
        int n = Array.getLength(data);
        long[] out = new long[n];
        for (int i = 0; i < n; i++) {
            Object v = Array.get(data, i);
            if (!(v instanceof Number num)) {
                throw new FileFormatException(name, "row metadata \"" + d.getName() + "\" is not integer");
            }
            out[i] = num.longValue();
        }
        return out;
    }

    private synchronized byte[] modalities() {
        if (modality == null) {
            Object data = flatData(modalityDs);
            int n = Array.getLength(data);
            byte[] out = new byte[n];
            for (int i = 0; i < n; i++) {
                Object v = Array.get(data, i);
                Modality m;
                if (v instanceof Number num) {
                    m = Modality.fromCode(num.intValue());
                } else {
                    try {
                        m = Modality.parse(String.valueOf(v));
                    } catch (SaeException e) {
                        throw new FileFormatException(name, "row " + i + " of \"modality\": " + e.getMessage());
                    }
                }
                out[i] = (byte) (m == Modality.IMAGE ? 0 : m == Modality.TEXT ? 1 : -1);
            }
            modality = out;
        }
        return modality;
    }

    private synchronized long[] sourceIds() {
        if (sourceId == null) {
            sourceId = longs(sourceIdDs);
        }
        return sourceId;
    }

    private synchronized long[] positions() {
        if (position == null) {
            position = longs(positionDs);
        }
        return position;
    }

    private synchronized String[] labels() {
        if (label == null) {
            Object data = flatData(labelDs);
            int n = Array.getLength(data);
            String[] out = new String[n];
            for (int i = 0; i < n; i++) {
                Object v = Array.get(data, i);
                out[i] = v == null ? null : v.toString();
            }
            label = out;
        }
        return label;
    }

    @Override
    public boolean hasModality() {
        return modalityDs != null;
    }

    @Override
    public boolean hasSourceId() {
        return sourceIdDs != null;
    }

    @Override
    public boolean hasPosition() {
        return positionDs != null;
    }

    @Override
    public boolean hasLabel() {
        return labelDs != null;
    }

    @Override
    public Modality modality(long row) {
        return modalityDs == null ? Modality.UNKNOWN : Modality.fromCode(modalities()[(int) row]);
    }

    @Override
    public long sourceId(long row) {
        return sourceIdDs == null ? -1 : sourceIds()[(int) row];
    }

    @Override
    public long position(long row) {
        return positionDs == null ? -1 : positions()[(int) row];
    }

    @Override
    public String label(long row) {
        return labelDs == null ? null : labels()[(int) row];
    }
}
