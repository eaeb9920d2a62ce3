package org.saeforge.core.kernels.device;

import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.saeforge.core.SaeException;

/**
 * The device memory a device-resident training run allocates, item by item, computed from the shapes before anything
 * is allocated: printed at the start and checked against the device's free memory, so that a configuration too large
 * for the device fails with the sizes in a one-line message instead of an out-of-memory error halfway.
 */
public final class DeviceMemoryPlan {
    /** Kept free beyond the plan: the driver, module code and allocation granularity need some. */
    public static final long RESERVE_BYTES = 256L << 20;

    /** What an allocation is for, in the order the summary lists them. */
    public enum Category {
        PARAMETERS("parameters"),
        ADAM("Adam state"),
        GRADIENTS("gradients"),
        DEAD_LATENTS("dead-latent state"),
        BATCH("batch buffers"),
        STEP("step scratch"),
        ENCODER("encoder workspace"),
        AUXK("AuxK workspace");

        private final String label;

        Category(String label) {
            this.label = label;
        }

        public String label() {
            return label;
        }
    }

    /** One allocation. */
    public record Item(Category category, String what, long bytes) {
        public Item {
            if (bytes < 0) {
                throw new IllegalArgumentException(what + ": negative size " + bytes);
            }
        }
    }

    private final List<Item> items = new ArrayList<>();

    /** Adds an allocation of {@code count} elements of {@code elementBytes}. */
    public DeviceMemoryPlan add(Category category, String what, long count, int elementBytes) {
        items.add(new Item(category, what, Math.multiplyExact(count, (long) elementBytes)));
        return this;
    }

    /** Adds every item of another plan. */
    public DeviceMemoryPlan addAll(DeviceMemoryPlan other) {
        items.addAll(other.items);
        return this;
    }

    public List<Item> items() {
        return List.copyOf(items);
    }

    /** Bytes in all. */
    public long total() {
        long sum = 0;
        for (Item i : items) {
            sum = Math.addExact(sum, i.bytes());
        }
        return sum;
    }

    /** Bytes per category, in category order (empty categories left out). */
    public Map<Category, Long> byCategory() {
        Map<Category, Long> out = new EnumMap<>(Category.class);
        for (Item i : items) {
            out.merge(i.category(), i.bytes(), Long::sum);
        }
        out.values().removeIf(v -> v == 0);
        return out;
    }

    /** {@code 3.41 GiB (parameters 1.00 GiB, Adam state 2.00 GiB, ...)}. */
    public String summary() {
        StringBuilder s = new StringBuilder(size(total())).append(" (");
        boolean first = true;
        for (Map.Entry<Category, Long> e : byCategory().entrySet()) {
            s.append(first ? "" : ", ").append(e.getKey().label()).append(' ').append(size(e.getValue()));
            first = false;
        }
        return s.append(')').toString();
    }

    /**
     * Fails with a one-line message naming the size needed and the size free unless the plan and
     * {@link #RESERVE_BYTES} fit into {@code freeBytes}.
     */
    public void requireFits(String device, long freeBytes, long totalBytes) {
        long need = total();
        if (need + RESERVE_BYTES > freeBytes) {
            throw new SaeException("--device cuda: this configuration needs " + summary() + " of device memory plus a "
                    + size(RESERVE_BYTES) + " reserve, but " + device + " has " + size(freeBytes) + " free of " + size(totalBytes)
                    + "; lower --batch-size or --num-latents, or train fewer SAEs at once");
        }
    }

    /** Bytes in binary units with three significant digits: {@code 512 MiB}, {@code 3.41 GiB}. */
    public static String size(long bytes) {
        String[] units = {"B", "KiB", "MiB", "GiB", "TiB"};
        double v = bytes;
        int u = 0;
        while (v >= 1024 && u < units.length - 1) {
            v /= 1024;
            u++;
        }
        String num = u == 0 || v >= 100 ? String.format(Locale.ROOT, "%.0f", v)
                : v >= 10 ? String.format(Locale.ROOT, "%.1f", v) : String.format(Locale.ROOT, "%.2f", v);
        return num + " " + units[u];
    }
}
