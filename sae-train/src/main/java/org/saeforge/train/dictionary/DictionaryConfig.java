package org.saeforge.train.dictionary;

import org.saeforge.core.SaeException;
import org.saeforge.core.data.BadRowPolicy;

/**
 * Settings of {@link DictionaryBuilder}; {@link #defaults()} holds every default in one place.
 *
 * @param topN               top activating rows kept per latent (default 20)
 * @param nearest            nearest latents by decoder cosine per latent (default 5)
 * @param maxRows            read only the first maxRows rows; 0 reads all (default 0)
 * @param batchSize          rows encoded at once (default 4096)
 * @param imageOnlyThreshold a latent is image-only when its image energy share exceeds this (default 0.95)
 * @param textOnlyThreshold  a latent is text-only when its image energy share is below this (default 0.05)
 * @param bridgeMemoryBytes  memory for the per-source sets behind the co-firing lift; beyond it a uniform sample of
 *                           sources (by a hash of the source id) is kept (default 256 MiB)
 * @param bridgeMinPairs     a latent enters the bridge ranking only when it co-fires on at least this many matched
 *                           pairs, so that a lift resting on one or two pairs does not top the list (default 5)
 * @param topBridge          bridge latents listed in the summary (default 10)
 * @param htmlExamples       top examples per latent embedded in index.html (default 10; features.jsonl has all topN)
 * @param badRows            rows holding NaN or infinity: skipped and counted, or fatal (default skip)
 */
public record DictionaryConfig(int topN, int nearest, long maxRows, int batchSize, double imageOnlyThreshold,
                               double textOnlyThreshold, long bridgeMemoryBytes, int bridgeMinPairs, int topBridge,
                               int htmlExamples, BadRowPolicy badRows) {

    public DictionaryConfig {
        if (topN < 0) {
            throw new SaeException("--top-n must be at least 0, got " + topN);
        }
        if (nearest < 0) {
            throw new SaeException("nearest latents must be at least 0, got " + nearest);
        }
        if (maxRows < 0) {
            throw new SaeException("--max-rows must be at least 0, got " + maxRows);
        }
        if (batchSize < 1) {
            throw new SaeException("--batch-size must be at least 1, got " + batchSize);
        }
        if (!(textOnlyThreshold >= 0 && textOnlyThreshold < imageOnlyThreshold && imageOnlyThreshold <= 1)) {
            throw new SaeException("modality thresholds must satisfy 0 <= text-only (" + textOnlyThreshold + ") < image-only ("
                    + imageOnlyThreshold + ") <= 1");
        }
        if (bridgeMemoryBytes < 1 << 20) {
            throw new SaeException("bridge memory must be at least 1 MiB, got " + bridgeMemoryBytes + " bytes");
        }
        if (bridgeMinPairs < 1) {
            throw new SaeException("bridge minimum pairs must be at least 1, got " + bridgeMinPairs);
        }
        if (topBridge < 0 || htmlExamples < 0) {
            throw new SaeException("top bridge and html examples must be at least 0");
        }
        if (badRows == null) {
            throw new SaeException("bad-row policy must be given");
        }
    }

    public static DictionaryConfig defaults() {
        return new DictionaryConfig(20, 5, 0, 4096, 0.95, 0.05, 256L << 20, 5, 10, 10, BadRowPolicy.SKIP);
    }

    public DictionaryConfig withTopN(int n) {
        return new DictionaryConfig(n, nearest, maxRows, batchSize, imageOnlyThreshold, textOnlyThreshold, bridgeMemoryBytes,
                bridgeMinPairs, topBridge, htmlExamples, badRows);
    }

    public DictionaryConfig withMaxRows(long n) {
        return new DictionaryConfig(topN, nearest, n, batchSize, imageOnlyThreshold, textOnlyThreshold, bridgeMemoryBytes,
                bridgeMinPairs, topBridge, htmlExamples, badRows);
    }

    public DictionaryConfig withBatchSize(int n) {
        return new DictionaryConfig(topN, nearest, maxRows, n, imageOnlyThreshold, textOnlyThreshold, bridgeMemoryBytes,
                bridgeMinPairs, topBridge, htmlExamples, badRows);
    }

    public DictionaryConfig withThresholds(double imageOnly, double textOnly) {
        return new DictionaryConfig(topN, nearest, maxRows, batchSize, imageOnly, textOnly, bridgeMemoryBytes, bridgeMinPairs,
                topBridge, htmlExamples, badRows);
    }

    public DictionaryConfig withBridge(long memoryBytes, int minPairs, int top) {
        return new DictionaryConfig(topN, nearest, maxRows, batchSize, imageOnlyThreshold, textOnlyThreshold, memoryBytes, minPairs,
                top, htmlExamples, badRows);
    }

    public DictionaryConfig withHtmlExamples(int n) {
        return new DictionaryConfig(topN, nearest, maxRows, batchSize, imageOnlyThreshold, textOnlyThreshold, bridgeMemoryBytes,
                bridgeMinPairs, topBridge, n, badRows);
    }

    public DictionaryConfig withBadRows(BadRowPolicy policy) {
        return new DictionaryConfig(topN, nearest, maxRows, batchSize, imageOnlyThreshold, textOnlyThreshold, bridgeMemoryBytes,
                bridgeMinPairs, topBridge, htmlExamples, policy);
    }
}
