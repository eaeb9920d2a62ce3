package org.saeforge.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Predicate;
import org.saeforge.core.FileFormatException;
import org.saeforge.core.SaeException;
import org.saeforge.core.io.AtomicFiles;
import org.saeforge.core.io.Json;
import picocli.CommandLine;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;

/**
 * Training settings in a JSON file: one key per {@code sae train} option, named without the leading dashes
 * ({@code {"num-latents": [8192, 16384], "k": 32, "data": ["acts.h5"]}}); lists for comma-list and repeatable options,
 * true/false for switches, null for "default". The file is turned back into arguments and parsed by picocli, so it
 * is validated exactly as the command line is.
 */
final class ConfigFile {
    /** Keys whose values are paths, resolved against the config file's folder when relative. */
    private static final Set<String> PATHS = Set.of("data", "truth", "out");

    private ConfigFile() {
    }

    /**
     * The command as the config file sets it, with the options given on the command line overriding it: parses the
     * file's settings (those the command line did not give) followed by the original arguments into {@code fresh}.
     */
    static TrainCommand apply(Path file, CommandSpec spec, TrainCommand fresh) {
        CommandLine.ParseResult given = spec.commandLine().getParseResult();
        List<String> rest = new ArrayList<>();
        List<String> original = given.originalArgs();
        // the original arguments start with the command's own name (sae train ...)
        int first = Math.max(0, original.indexOf(spec.name()) + 1);
        for (int i = first; i < original.size(); i++) {
            String a = original.get(i);
            if (a.equals("--config")) {
                i++;
            } else if (!a.startsWith("--config=")) {
                rest.add(a);
            }
        }
        return parse(file, fresh, opt -> given.hasMatchedOption(opt.longestName()), rest);
    }

    /**
     * Parses {@code file} into {@code fresh}: every setting whose option {@code overridden} rejects becomes arguments,
     * followed by {@code extraArgs}.
     */
    static TrainCommand parse(Path file, TrainCommand fresh, Predicate<OptionSpec> overridden, List<String> extraArgs) {
        if (!Files.isRegularFile(file)) {
            throw new FileFormatException(file, "config file not found");
        }
        JsonNode root = Json.read(file);
        if (!root.isObject()) {
            throw new FileFormatException(file, "expected a JSON object of settings");
        }
        CommandLine cl = new CommandLine(fresh);
        CommandSpec spec = cl.getCommandSpec();
        Path base = file.toAbsolutePath().getParent();
        List<String> args = new ArrayList<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = root.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            String key = e.getKey();
            OptionSpec opt = key.startsWith("-") ? null : spec.findOption("--" + key);
            if (opt == null || opt.usageHelp() || opt.versionHelp() || key.equals("config")) {
                throw new FileFormatException(file, "unknown setting \"" + key + "\" (settings are the sae train options without '--')");
            }
            if (e.getValue().isNull() || overridden.test(opt)) {
                continue;
            }
            args.addAll(toArgs(file, base, key, opt, e.getValue()));
        }
        args.addAll(extraArgs);
        try {
            cl.parseArgs(args.toArray(new String[0]));
        } catch (CommandLine.ParameterException ex) {
            throw new SaeException(file + ": " + ex.getMessage());
        }
        return fresh;
    }

    private static List<String> toArgs(Path file, Path base, String key, OptionSpec opt, JsonNode v) {
        String flag = "--" + key;
        List<String> out = new ArrayList<>();
        if (opt.arity().max() == 0 || opt.type() == Boolean.class || opt.type() == boolean.class) {
            if (!v.isBoolean()) {
                throw new FileFormatException(file, "setting \"" + key + "\" must be true or false");
            }
            if (v.asBoolean()) {
                out.add(flag);
            } else if (opt.negatable()) {
                out.add("--no-" + key);
            }
            return out;
        }
        List<String> values = new ArrayList<>();
        if (v.isArray()) {
            v.forEach(x -> values.add(text(file, key, x, base)));
        } else {
            values.add(text(file, key, v, base));
        }
        if (!opt.isMultiValue() && values.size() != 1) {
            throw new FileFormatException(file, "setting \"" + key + "\" takes one value, got " + values.size());
        }
        if (!opt.splitRegex().isEmpty()) {
            out.add(flag);
            out.add(String.join(",", values));
        } else {
            for (String s : values) {
                out.add(flag);
                out.add(s);
            }
        }
        return out;
    }

    private static String text(Path file, String key, JsonNode x, Path base) {
        if (!x.isValueNode() || x.isNull()) {
            throw new FileFormatException(file, "setting \"" + key + "\" must hold numbers, strings or true/false");
        }
        String s = x.asText();
        return PATHS.contains(key) ? base.resolve(s).toString() : s;
    }

    /**
     * Saves every option's value as this command resolved it (defaults included, "auto" as null, paths absolute), in
     * the format {@link #parse} reads.
     */
    static void save(CommandSpec spec, Path file) {
        ObjectNode o = Json.object();
        for (OptionSpec opt : spec.options()) {
            String key = opt.longestName().replaceFirst("^--", "");
            if (opt.usageHelp() || opt.versionHelp() || key.equals("config")) {
                continue;
            }
            Object v = opt.getValue();
            if (v == null) {
                o.putNull(key);
            } else if (v instanceof List<?> list) {
                ArrayNode a = o.putArray(key);
                for (Object x : list) {
                    a.add(PATHS.contains(key) ? Path.of(x.toString()).toAbsolutePath().toString() : x.toString());
                }
            } else if (v instanceof Path p) {
                o.put(key, p.toAbsolutePath().toString());
            } else if (v instanceof Boolean b) {
                o.put(key, b);
            } else if (v instanceof Integer || v instanceof Long) {
                o.put(key, ((Number) v).longValue());
            } else if (v instanceof Number n) {
                o.put(key, n.doubleValue());
            } else {
                o.put(key, v.toString());
            }
        }
        AtomicFiles.writeString(file, Json.pretty(o) + "\n");
    }
}
