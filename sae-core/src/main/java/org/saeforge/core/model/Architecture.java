package org.saeforge.core.model;

import java.util.Locale;
import org.saeforge.core.SaeException;

/** The activation function of a sparse autoencoder and how it is named in files and on the command line. */
public enum Architecture {
    /** Keep the k largest pre-activations per row, ReLU them. */
    TOPK("topk", "topk"),
    /** Top k*batch over a whole batch in training; a per-latent threshold at inference (saved as jumprelu). */
    BATCH_TOPK("batchtopk", "jumprelu"),
    /** pre * (pre > threshold) with a learned per-latent threshold. */
    JUMPRELU("jumprelu", "jumprelu"),
    /** relu(pre), trained with an L1 penalty (SAELens "standard"). */
    RELU("relu", "standard"),
    /**
     * BatchTopK trained so that nested prefixes of the latents each reconstruct the input (Matryoshka SAE); like
     * BatchTopK, a per-latent threshold at inference (saved as jumprelu).
     */
    MATRYOSHKA("matryoshka", "jumprelu");

    private final String cliName;
    private final String saeLensName;

    Architecture(String cliName, String saeLensName) {
        this.cliName = cliName;
        this.saeLensName = saeLensName;
    }

    /** The name used on the command line and in SAEForge's own files. */
    public String cliName() {
        return cliName;
    }

    /** The {@code architecture} value a SAELens cfg.json holds for a saved SAE of this kind. */
    public String saeLensName() {
        return saeLensName;
    }

    /** True when inference selects a fixed number k of latents per row. */
    public boolean usesK() {
        return this == TOPK;
    }

    /** True when inference uses a per-latent threshold. */
    public boolean usesThreshold() {
        return this == JUMPRELU || this == BATCH_TOPK || this == MATRYOSHKA;
    }

    /** True when training selects the top k x batch pre-activations over the whole batch. */
    public boolean batchSelection() {
        return this == BATCH_TOPK || this == MATRYOSHKA;
    }

    public static Architecture fromCliName(String name) {
        for (Architecture a : values()) {
            if (a.cliName.equals(name.toLowerCase(Locale.ROOT))) {
                return a;
            }
        }
        throw new SaeException("unknown architecture '" + name + "' (expected topk, batchtopk, jumprelu, relu or matryoshka)");
    }

    /** The architecture a SAELens cfg.json names (jumprelu covers saved BatchTopK SAEs too). */
    public static Architecture fromSaeLensName(String name) {
        switch (name) {
            case "topk":
                return TOPK;
            case "jumprelu":
                return JUMPRELU;
            case "standard":
            case "relu":
                return RELU;
            case "batchtopk":
                return BATCH_TOPK;
            default:
                throw new SaeException("unsupported SAELens architecture '" + name + "' (supported: topk, jumprelu, standard)");
        }
    }
}
