package org.saeforge.cli;

import java.io.PrintStream;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import org.saeforge.core.SaeException;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The {@code sae} command. Every subcommand returns an exit code: 0 ok, 2 bad input, 1 internal error. */
@Command(name = "sae", mixinStandardHelpOptions = true, versionProvider = SaeCli.Version.class,
        description = "SAEForge: train sparse autoencoders on cached model activations and export feature dictionaries.",
        subcommands = {QuickstartCommand.class, TrainCommand.class, ResumeCommand.class, EvalCommand.class, ExportCommand.class,
                DictionaryCommand.class, EncodeCommand.class, SynthCommand.class, ConvertCommand.class, InspectDataCommand.class,
                CommandLine.HelpCommand.class})
public final class SaeCli implements Runnable {

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        throw new CommandLine.ParameterException(spec.commandLine(), "missing command (try: sae quickstart, sae train --help)");
    }

    public static void main(String[] args) {
        PrintStream out = new PrintStream(new java.io.FileOutputStream(java.io.FileDescriptor.out), true, StandardCharsets.UTF_8);
        PrintStream err = new PrintStream(new java.io.FileOutputStream(java.io.FileDescriptor.err), true, StandardCharsets.UTF_8);
        int code = run(args, out, err);
        out.flush();
        err.flush();
        System.exit(code);
    }

    /** Runs the CLI with the given streams and returns the exit code (used by tests and by {@link #main}). */
    public static int run(String[] args, PrintStream out, PrintStream err) {
        Io io = new Io(out, err);
        CommandLine.IFactory defaults = CommandLine.defaultFactory();
        CommandLine cl = new CommandLine(new SaeCli(), new CommandLine.IFactory() {
            @Override
            public <K> K create(Class<K> cls) throws Exception {
                try {
                    var ctor = cls.getDeclaredConstructor(Io.class);
                    ctor.setAccessible(true);
                    return ctor.newInstance(io);
                } catch (NoSuchMethodException e) {
                    return defaults.create(cls);
                }
            }
        });
        cl.setOut(new PrintWriter(out, true));
        cl.setErr(new PrintWriter(err, true));
        cl.setExitCodeExceptionMapper(e -> e instanceof SaeException s ? s.exitCode() : SaeException.INTERNAL);
        cl.setParameterExceptionHandler((ex, a) -> {
            CommandLine c = ex.getCommandLine();
            // An unknown option explains a "missing required option" error better than the latter does.
            String msg = c.getUnmatchedArguments().isEmpty() ? ex.getMessage()
                    : "unknown option or argument: " + String.join(" ", c.getUnmatchedArguments());
            err.println(c.getCommandSpec().qualifiedName() + ": " + oneLine(msg) + " (see " + c.getCommandSpec().qualifiedName() + " --help)");
            return SaeException.BAD_INPUT;
        });
        cl.setExecutionExceptionHandler((ex, c, parseResult) -> {
            if (ex instanceof SaeException s) {
                err.println(c.getCommandSpec().qualifiedName() + ": " + oneLine(s.getMessage()));
                if (System.getenv("SAE_DEBUG") != null) {
                    ex.printStackTrace(err);
                }
                return s.exitCode();
            }
            err.println(c.getCommandSpec().qualifiedName() + ": internal error: " + ex.getClass().getSimpleName() + ": "
                    + oneLine(String.valueOf(ex.getMessage())) + " (set SAE_DEBUG=1 for the stack trace)");
            if (System.getenv("SAE_DEBUG") != null) {
                ex.printStackTrace(err);
            }
            return SaeException.INTERNAL;
        });
        try {
            return cl.execute(args);
        } catch (OutOfMemoryError e) {
            err.println("sae: out of memory; lower --batch-size or --num-latents, or give the JVM more with JAVA_OPTS=-Xmx...");
            return SaeException.INTERNAL;
        }
    }

    private static String oneLine(String s) {
        return s == null ? "" : s.replace('\n', ' ').replace('\r', ' ');
    }

    /** Version from the jar manifest when packaged. */
    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            String v = SaeCli.class.getPackage().getImplementationVersion();
            return new String[] {"SAEForge " + (v == null ? "dev" : v) + " (Java " + Runtime.version() + ")"};
        }
    }
}
