package org.saeforge.train;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.Test;

class EvalMetricsTest {

    @Test
    void rareLatentsFireButOnFewerThanOneRowInTenThousand() {
        // dead, rare, rare, at the limit (not rare), common, rare
        double[] density = {0, 1e-6, 5e-5, 1e-4, 0.3, 9.99e-5};
        assertEquals(3.0 / 6, EvalMetrics.rareFraction(density), 0);
        assertEquals(0, EvalMetrics.rareFraction(new double[] {0, 0, 0.2}), 0);
        assertEquals(0, EvalMetrics.rareFraction(new double[0]), 0);
        assertEquals(0, EvalMetrics.rareFraction(null), 0);
    }

    @Test
    void theJsonCarriesTheRareFractionBesideTheDeadFraction() {
        double[] density = {0, 2e-5, 0.01, 0.5};
        EvalMetrics m = new EvalMetrics(0.1, 0.01, 3.5, 0.25, 0.25, 100_000, 0, density);
        ObjectNode o = m.toJson();
        assertEquals(0.25, o.get("dead_fraction").asDouble(), 0);
        assertEquals(0.25, o.get("rare_fraction").asDouble(), 0);
        assertEquals(0.25, m.rareFraction(), 0);
    }
}
