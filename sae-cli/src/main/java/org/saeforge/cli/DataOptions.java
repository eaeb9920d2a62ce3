package org.saeforge.cli;

import java.util.List;
import org.saeforge.core.data.ActivationSource;
import org.saeforge.core.data.ActivationSources;
import picocli.CommandLine.Option;

/** {@code --data} (repeatable), {@code --dataset} and {@code --modality}: which activations a command reads. */
public final class DataOptions {
    // Not required at parse time: sae train may take it from --config; open() insists.
    @Option(names = "--data", paramLabel = "PATH",
            description = {"Activations: .npy, .npz, .h5/.hdf5, .safetensors, a shard folder (sae convert), a folder of such files, "
                    + "or a glob in quotes ('acts/*.h5'). Repeat to read several as one; all must have the same d_in."})
    List<String> data;

    @Option(names = "--dataset", paramLabel = "NAME",
            description = "The array to read in .npz/HDF5/safetensors files (HDF5 path such as /layers/vision/acts); "
                    + "default: the only 2-D/3-D float one.")
    String dataset;

    @Option(names = "--modality", paramLabel = "image|text|all", defaultValue = "all",
            description = "Keep only image or text rows (needs row metadata); default ${DEFAULT-VALUE}.")
    String modality;

    ActivationSources.Spec spec() {
        return new ActivationSources.Spec(data, dataset, modality);
    }

    /** Opens and checks every input (header, width, dtype, size) and returns them as one source. */
    ActivationSource open() {
        if (data == null || data.isEmpty()) {
            throw new org.saeforge.core.SaeException("missing required option '--data=PATH' (activation files)");
        }
        return ActivationSources.open(spec());
    }
}
