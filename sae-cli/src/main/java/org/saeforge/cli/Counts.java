package org.saeforge.cli;

import java.util.Locale;
import org.saeforge.core.SaeException;
import picocli.CommandLine;

/** Parses counts like {@code 3000000}, {@code 3M}, {@code 500k}, {@code 2.5M} or {@code 3e6}. */
public final class Counts implements CommandLine.ITypeConverter<Long> {

    @Override
    public Long convert(String value) {
        try {
            return parse(value);
        } catch (SaeException e) {
            throw new CommandLine.TypeConversionException(e.getMessage());
        }
    }

    public static long parse(String value) {
        String s = value.trim().toLowerCase(Locale.ROOT).replace("_", "");
        double mult = 1;
        if (s.endsWith("k")) {
            mult = 1e3;
        } else if (s.endsWith("m")) {
            mult = 1e6;
        } else if (s.endsWith("g") || s.endsWith("b")) {
            mult = 1e9;
        }
        if (mult != 1) {
            s = s.substring(0, s.length() - 1);
        }
        try {
            double v = Double.parseDouble(s) * mult;
            if (v < 0 || v > Long.MAX_VALUE || v != Math.rint(v)) {
                throw new NumberFormatException();
            }
            return (long) v;
        } catch (NumberFormatException e) {
            throw new SaeException("'" + value + "' is not a count (examples: 4096, 3M, 500k)");
        }
    }
}
