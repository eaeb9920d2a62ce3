package org.saeforge.train.dictionary;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.saeforge.core.io.FeatureDictionary.Feature;

/**
 * Opens index.html from the file system in headless Chromium (Debian package {@code chromium}) and checks the rendered
 * DOM: one table row per latent, a feature card with its examples and histogram, search and sorting. Saves a
 * screenshot to {@code target/dictionary-browser.png}. Skipped (reported by JUnit) when no Chromium is installed; the
 * executable can be named with the environment variable {@code SAE_CHROMIUM}.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class DictionaryBrowserTest {
    private static final Pattern TABLE_ROW = Pattern.compile("<tr data-id=\"(\\d+)\"");

    private Path chromium;
    private Path page;
    private DictionaryResult result;

    @BeforeAll
    void writeDictionary() {
        chromium = findChromium();
        if (chromium == null) {
            return;
        }
        result = SampleDictionary.build(SampleDictionary.source());
        Path dir = Path.of("target", "dictionary-browser-test").toAbsolutePath();
        DictionaryWriter.write(result, dir);
        page = dir.resolve("index.html");
    }

    /** Each test is skipped, and reported as skipped, when Chromium is absent. */
    @BeforeEach
    void requireChromium() {
        assumeTrue(chromium != null, "chromium is not installed (apt-get install chromium); browser test skipped");
    }

    static Path findChromium() {
        String env = System.getenv("SAE_CHROMIUM");
        if (env != null && !env.isBlank()) {
            return Files.isExecutable(Path.of(env)) ? Path.of(env) : null;
        }
        for (String dir : System.getenv().getOrDefault("PATH", "").split(File.pathSeparator)) {
            for (String name : new String[] {"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"}) {
                Path p = Path.of(dir, name);
                if (Files.isExecutable(p)) {
                    return p;
                }
            }
        }
        return null;
    }

    /** Runs headless Chromium with a fresh profile and no network services; returns stdout. */
    private String chromium(String... args) throws IOException, InterruptedException {
        Path profile = Files.createTempDirectory("sae-chromium-");
        List<String> cmd = new ArrayList<>(List.of(chromium.toString(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--user-data-dir=" + profile));
        cmd.addAll(Arrays.asList(args));
        Path log = Files.createTempFile("sae-chromium-", ".log");
        Process p = new ProcessBuilder(cmd).redirectError(log.toFile()).start();
        try {
            byte[] out = p.getInputStream().readAllBytes();
            assertTrue(p.waitFor(120, TimeUnit.SECONDS), "chromium did not finish");
            assertEquals(0, p.exitValue(), "chromium failed: " + Files.readString(log));
            return new String(out, StandardCharsets.UTF_8);
        } finally {
            p.destroyForcibly();
            org.saeforge.core.io.AtomicFiles.deleteRecursively(profile);
            Files.deleteIfExists(log);
        }
    }

    private String dom(String hash) throws IOException, InterruptedException {
        return chromium("--dump-dom", page.toUri() + "#" + hash);
    }

    private static List<Integer> tableIds(String dom) {
        int body = dom.indexOf("<tbody id=\"rows\">");
        String rows = dom.substring(body, dom.indexOf("</tbody>", body));
        List<Integer> ids = new ArrayList<>();
        Matcher m = TABLE_ROW.matcher(rows);
        while (m.find()) {
            ids.add(Integer.parseInt(m.group(1)));
        }
        return ids;
    }

    @Test
    void tableHasOneRowPerLatentAndTheCardRenders() throws Exception {
        String dom = dom("size=all&sort=id&asc&feature=5");
        List<Integer> ids = tableIds(dom);
        assertEquals(SampleDictionary.N, ids.size(), "one table row per latent");
        for (int j = 0; j < SampleDictionary.N; j++) {
            assertEquals(j, ids.get(j), "sorted by id ascending");
        }
        int at = dom.indexOf("<div id=\"card\"");
        String card = dom.substring(at, dom.indexOf("</section>", at));
        assertTrue(card.contains("<h2>Feature 5</h2>"), card);
        Feature f = result.feature(5);
        int examples = Math.min(result.config().htmlExamples(), f.topExamples().size());
        assertTrue(examples > 0, "feature 5 must have examples for this test");
        String table = card.substring(card.indexOf("<table class=\"examples\">"), card.indexOf("</table>", card.indexOf("<table class=\"examples\">")));
        assertEquals(examples + 1, count(table, "<tr>"), "header plus one row per top example");
        assertTrue(table.contains(">" + f.topExamples().get(0).row() + "<"), "the best example's row number is shown");
        assertTrue(card.contains("class=\"hist\""), "the activation histogram is drawn");
        assertTrue(card.contains("&lt;/script&gt;"), "a label with markup is shown as text");
        assertTrue(dom.contains("<svg") && dom.indexOf("class=\"hist\"") < at, "the density histogram is drawn");
    }

    @Test
    void searchAndSortWork() throws Exception {
        String query = "thing 3";
        long expect = 0;
        for (int j = 0; j < result.numLatents(); j++) {
            var l = result.feature(j).label();
            if (l != null && l.text().toLowerCase(Locale.ROOT).contains(query)) {
                expect++;
            }
        }
        assertTrue(expect > 0 && expect < SampleDictionary.N, "the query must select some but not all features: " + expect);
        assertEquals(expect, tableIds(dom("size=all&q=thing%203")).size());

        int densest = 0;
        for (int j = 1; j < result.numLatents(); j++) {
            if (result.density(j) > result.density(densest)) {
                densest = j;
            }
        }
        List<Integer> byDensity = tableIds(dom("size=all"));
        assertEquals(densest, byDensity.get(0), "default sort: density, descending");
        assertEquals(50, tableIds(dom("size=50")).size(), "pages hold the chosen number of rows");
    }

    @Test
    void screenshot() throws Exception {
        Path png = Path.of("target", "dictionary-browser.png").toAbsolutePath();
        Files.deleteIfExists(png);
        chromium("--screenshot=" + png, "--window-size=1400,1000", "--hide-scrollbars", page.toUri() + "#feature=5");
        assertTrue(Files.size(png) > 10_000, "screenshot written");
        byte[] magic = Arrays.copyOf(Files.readAllBytes(png), 4);
        assertArrayEquals(new byte[] {(byte) 0x89, 'P', 'N', 'G'}, magic);
    }

    private static int count(String s, String needle) {
        int n = 0;
        for (int i = s.indexOf(needle); i >= 0; i = s.indexOf(needle, i + 1)) {
            n++;
        }
        return n;
    }
}
