package org.saeforge.core.io;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import org.saeforge.core.FileFormatException;

/** JSON reading and writing with one configured Jackson mapper (immutable once built). */
public final class Json {
    private static final ObjectMapper MAPPER = new ObjectMapper()
            .enable(SerializationFeature.INDENT_OUTPUT)
            .disable(SerializationFeature.FAIL_ON_EMPTY_BEANS);
    private static final ObjectMapper COMPACT = new ObjectMapper();

    private Json() {
    }

    public static ObjectMapper mapper() {
        return MAPPER;
    }

    public static ObjectNode object() {
        return MAPPER.createObjectNode();
    }

    /** Reads a JSON file; a missing or malformed file is a {@link FileFormatException} naming it. */
    public static JsonNode read(Path file) {
        try {
            return MAPPER.readTree(Files.readString(file, StandardCharsets.UTF_8));
        } catch (NoSuchFileException e) {
            throw new FileFormatException(file, "file not found");
        } catch (JsonProcessingException e) {
            throw new FileFormatException(file, "not valid JSON (" + e.getOriginalMessage() + ")");
        } catch (IOException e) {
            throw new FileFormatException(file, "cannot read (" + e.getMessage() + ")");
        }
    }

    /** Indented JSON text. */
    public static String pretty(Object value) {
        try {
            return MAPPER.writeValueAsString(value);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("cannot serialise " + value.getClass().getSimpleName(), e);
        }
    }

    /** One-line JSON text (for JSONL and the final metrics line). */
    public static String compact(Object value) {
        try {
            return COMPACT.writeValueAsString(value);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("cannot serialise " + value.getClass().getSimpleName(), e);
        }
    }

    /** The required integer field, or a one-line error naming file and field. */
    public static int requireInt(JsonNode node, String field, Path file) {
        JsonNode v = node.get(field);
        if (v == null || !v.canConvertToInt()) {
            throw new FileFormatException(file, "missing or non-integer field \"" + field + "\"");
        }
        return v.asInt();
    }

    public static String requireText(JsonNode node, String field, Path file) {
        JsonNode v = node.get(field);
        if (v == null || !v.isTextual()) {
            throw new FileFormatException(file, "missing or non-string field \"" + field + "\"");
        }
        return v.asText();
    }
}
