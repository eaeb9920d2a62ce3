package org.saeforge.core.data;

import java.util.Locale;
import org.saeforge.core.SaeException;

/** Which kind of input a row of activations came from. */
public enum Modality {
    IMAGE,
    TEXT,
    UNKNOWN;

    /** Parses {@code image}/{@code text} (any case) or the uint8 codes 0 = image, 1 = text. */
    public static Modality parse(String s) {
        String t = s.trim().toLowerCase(Locale.ROOT);
        switch (t) {
            case "image":
            case "img":
            case "0":
                return IMAGE;
            case "text":
            case "txt":
            case "1":
                return TEXT;
            case "":
            case "unknown":
                return UNKNOWN;
            default:
                throw new SaeException("unknown modality '" + s + "' (expected image, text, 0 or 1)");
        }
    }

    public static Modality fromCode(int code) {
        return code == 0 ? IMAGE : code == 1 ? TEXT : UNKNOWN;
    }

    public String cliName() {
        return name().toLowerCase(Locale.ROOT);
    }
}
