package org.saeforge.cli;

import java.io.PrintStream;

/** The streams a command writes to: results on out (the last line of a computing command is JSON), humans on err. */
record Io(PrintStream out, PrintStream err) {
}
