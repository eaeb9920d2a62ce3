package org.saeforge.core.data;

import java.nio.file.Path;

/** Display paths such as {@code acts.h5:/layers/acts} for messages, safe for any member name a file may hold. */
final class Names {
    private Names() {
    }

    /** {@code file:member}, with control characters in the (untrusted) member name replaced by '?'. */
    static Path member(Path file, String member) {
        StringBuilder b = new StringBuilder(member.length());
        member.codePoints().limit(200).forEach(c -> b.appendCodePoint(c < 0x20 || c == 0x7f ? '?' : c));
        return Path.of(file + ":" + b);
    }
}
