package org.saeforge.core.data;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import org.saeforge.core.FileFormatException;
import org.saeforge.core.io.Safetensors;

/**
 * One tensor of a safetensors file as activation rows: 2-D {@code [rows, dIn]} or 3-D (flattened), {@code F32},
 * {@code F16} or {@code BF16}, memory-mapped. The header is parsed and every offset checked by {@link Safetensors}.
 */
public final class SafetensorsSource extends MappedSource {
    private SafetensorsSource(Path path, int dIn, MappedRows rows) {
        super(path, dIn, rows);
    }

    /** Opens tensor {@code dataset}, or the only 2-D/3-D float tensor when dataset is null. */
    public static SafetensorsSource open(Path path, String dataset) {
        try (Safetensors.Reader reader = Safetensors.open(path)) {
            Safetensors.TensorInfo t;
            if (dataset != null) {
                t = reader.require(dataset);
            } else {
                List<Safetensors.TensorInfo> candidates = new ArrayList<>();
                for (Safetensors.TensorInfo x : reader.tensors().values()) {
                    if (dtypeOf(x.dtype()) != null && (x.shape().length == 2 || x.shape().length == 3)) {
                        candidates.add(x);
                    }
                }
                if (candidates.size() != 1) {
                    throw new FileFormatException(path, (candidates.isEmpty() ? "has no 2-D or 3-D F32/F16/BF16 tensor"
                            : "has several float tensors " + names(candidates)) + "; pick one with --dataset (tensors: "
                            + reader.tensors().keySet() + ")");
                }
                t = candidates.get(0);
            }
            MappedRows.DType dtype = dtypeOf(t.dtype());
            if (dtype == null) {
                throw new FileFormatException(path, "tensor \"" + t.name() + "\" has dtype " + t.dtype() + "; expected F32, F16 or BF16");
            }
            long[] shape = t.shape();
            if (shape.length != 2 && shape.length != 3) {
                throw new FileFormatException(path, "tensor \"" + t.name() + "\" has shape " + java.util.Arrays.toString(shape)
                        + "; expected [rows, d_in] or [n, tokens, d_in]");
            }
            long dIn = shape[shape.length - 1];
            if (dIn <= 0 || dIn > Integer.MAX_VALUE / 4) {
                throw new FileFormatException(path, "tensor \"" + t.name() + "\" has bad width " + dIn);
            }
            long numRows = shape.length == 2 ? shape[0] : shape[0] * shape[1];
            Path name = Names.member(path, t.name());
            try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
                return new SafetensorsSource(name, (int) dIn, new MappedRows(path, ch, reader.absoluteOffset(t), numRows, (int) dIn, dtype));
            } catch (IOException e) {
                throw new FileFormatException(path, "cannot read (" + e.getMessage() + ")");
            }
        }
    }

    private static List<String> names(List<Safetensors.TensorInfo> ts) {
        List<String> n = new ArrayList<>();
        ts.forEach(t -> n.add(t.name()));
        return n;
    }

    private static MappedRows.DType dtypeOf(String st) {
        switch (st) {
            case "F32":
                return MappedRows.DType.FLOAT32;
            case "F16":
                return MappedRows.DType.FLOAT16;
            case "BF16":
                return MappedRows.DType.BFLOAT16;
            default:
                return null;
        }
    }
}
