package org.saeforge.core.data;

import java.io.BufferedReader;
import java.io.IOException;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import org.saeforge.core.FileFormatException;
import org.saeforge.core.SaeException;

/**
 * The {@code NAME.meta.csv} sidecar of an activation file {@code NAME.ext}: UTF-8 CSV (RFC 4180 quoting) with a
 * header naming any of the columns {@code source_id}, {@code modality} ({@code image}/{@code text} or 0/1),
 * {@code position} and {@code label}, in any order; other columns are ignored. One line per activation row.
 */
public final class CsvMetadata {
    private CsvMetadata() {
    }

    /** The sidecar path of an activation file: {@code dir/acts.npy} to {@code dir/acts.meta.csv}. */
    public static Path sidecarOf(Path data) {
        String name = data.getFileName().toString();
        int dot = name.lastIndexOf('.');
        return data.resolveSibling((dot > 0 ? name.substring(0, dot) : name) + ".meta.csv");
    }

    /** Reads the sidecar of {@code data} when it exists (null otherwise), checking it has exactly {@code rows} rows. */
    static RowMetadata readSidecar(Path data, long rows) {
        Path csv = sidecarOf(data);
        return Files.isRegularFile(csv) ? read(csv, rows) : null;
    }

    /** Reads a metadata CSV that must hold exactly {@code rows} rows. */
    public static RowMetadata read(Path csv, long rows) {
        if (rows > Integer.MAX_VALUE - 8) {
            throw new FileFormatException(csv, "a CSV sidecar cannot describe " + rows + " rows; convert to a shard folder");
        }
        int n = (int) rows;
        try (BufferedReader in = Files.newBufferedReader(csv, StandardCharsets.UTF_8)) {
            List<String> header = nextRecord(in, csv, 1);
            if (header == null) {
                throw new FileFormatException(csv, "empty metadata CSV (expected a header line)");
            }
            int cSource = -1;
            int cModality = -1;
            int cPosition = -1;
            int cLabel = -1;
            for (int i = 0; i < header.size(); i++) {
                switch (header.get(i).trim().toLowerCase(Locale.ROOT)) {
                    case "source_id":
                        cSource = i;
                        break;
                    case "modality":
                        cModality = i;
                        break;
                    case "position":
                        cPosition = i;
                        break;
                    case "label":
                        cLabel = i;
                        break;
                    default:
                        break;
                }
            }
            if (cSource < 0 && cModality < 0 && cPosition < 0 && cLabel < 0) {
                throw new FileFormatException(csv, "header " + header + " names none of source_id, modality, position, label");
            }
            byte[] modality = cModality >= 0 ? new byte[n] : null;
            long[] sourceId = cSource >= 0 ? new long[n] : null;
            long[] position = cPosition >= 0 ? new long[n] : null;
            String[] label = cLabel >= 0 ? new String[n] : null;
            int r = 0;
            for (List<String> rec; (rec = nextRecord(in, csv, r + 2)) != null; r++) {
                if (r >= n) {
                    throw new FileFormatException(csv, "has more than the " + n + " rows of its activation file");
                }
                if (rec.size() < header.size()) {
                    throw new FileFormatException(csv, "line " + (r + 2) + ": " + rec.size() + " fields, the header has " + header.size());
                }
                if (modality != null) {
                    try {
                        Modality m = Modality.parse(rec.get(cModality));
                        modality[r] = (byte) (m == Modality.IMAGE ? 0 : m == Modality.TEXT ? 1 : -1);
                    } catch (SaeException e) {
                        throw new FileFormatException(csv, "line " + (r + 2) + ": " + e.getMessage());
                    }
                }
                if (sourceId != null) {
                    sourceId[r] = parseLong(rec.get(cSource), csv, r, "source_id");
                }
                if (position != null) {
                    position[r] = parseLong(rec.get(cPosition), csv, r, "position");
                }
                if (label != null) {
                    label[r] = rec.get(cLabel);
                }
            }
            if (r != n) {
                throw new FileFormatException(csv, "has " + r + " rows but its activation file has " + n);
            }
            return new ArrayMetadata(modality, sourceId, position, label);
        } catch (CharacterCodingException e) {
            throw new FileFormatException(csv, "is not valid UTF-8");
        } catch (IOException e) {
            throw new FileFormatException(csv, "cannot read (" + e.getMessage() + ")");
        }
    }

    private static long parseLong(String s, Path csv, int r, String column) {
        String t = s.trim();
        if (t.isEmpty()) {
            return -1;
        }
        try {
            return Long.parseLong(t);
        } catch (NumberFormatException e) {
            throw new FileFormatException(csv, "line " + (r + 2) + ": " + column + " '" + s + "' is not an integer");
        }
    }

    /** One CSV record (quoted fields may hold commas, doubled quotes and line breaks), or null at end of input. */
    static List<String> nextRecord(BufferedReader in, Path csv, int line) throws IOException {
        int c = in.read();
        if (c < 0) {
            return null;
        }
        List<String> fields = new ArrayList<>();
        StringBuilder f = new StringBuilder();
        boolean quoted = false;
        boolean wasQuoted = false;
        while (true) {
            if (c < 0) {
                if (quoted) {
                    throw new FileFormatException(csv, "line " + line + ": unterminated quoted field");
                }
                fields.add(f.toString());
                return fields;
            }
            if (quoted) {
                if (c == '"') {
                    int next = in.read();
                    if (next == '"') {
                        f.append('"');
                    } else {
                        quoted = false;
                        c = next;
                        continue;
                    }
                } else {
                    f.append((char) c);
                }
            } else if (c == '"' && f.length() == 0 && !wasQuoted) {
                quoted = true;
                wasQuoted = true;
            } else if (c == ',') {
                fields.add(f.toString());
                f.setLength(0);
                wasQuoted = false;
            } else if (c == '\n' || c == '\r') {
                if (c == '\r') {
                    in.mark(1);
                    if (in.read() != '\n') {
                        in.reset();
                    }
                }
                fields.add(f.toString());
                return fields;
            } else {
                f.append((char) c);
            }
            c = in.read();
        }
    }
}
