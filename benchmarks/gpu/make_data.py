"""Synthetic activations for the end-to-end GPU benchmark, generated on the GPU (the device machine has no network).

Each row is offset + sum over its active features of magnitude * direction + noise: n_true unit directions in R^d,
features drawn with Zipf-like probabilities (exponent 0.7), `active` of them per row, log-normal magnitudes, Gaussian
noise. Values are rounded to float16 and stored as float32 .npy, so the PyTorch peer (which reads .npy) and our
trainer (which reads the float16 shard folder made from it by `sae convert --dtype float16`) see identical numbers.
Prints one JSON line.
"""
import argparse
import json
import time

import numpy as np
import torch
import torch.nn.functional as F


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--out", required=True)
    p.add_argument("--rows", type=int, default=1 << 20)
    p.add_argument("--d", type=int, default=1024)
    p.add_argument("--n-true", type=int, default=32768)
    p.add_argument("--active", type=int, default=32)
    p.add_argument("--noise", type=float, default=0.01)
    p.add_argument("--offset-norm", type=float, default=4.0)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    t0 = time.time()
    dev = torch.device("cuda")
    g = torch.Generator(device=dev).manual_seed(a.seed)
    feats = torch.randn(a.n_true, a.d, device=dev, generator=g)
    feats /= feats.norm(dim=1, keepdim=True)
    ranks = torch.randperm(a.n_true, device=dev, generator=g).float() + 1
    probs = ranks.pow(-0.7)
    probs /= probs.sum()
    scale = torch.exp(0.3 * torch.randn(a.n_true, device=dev, generator=g))
    offset = torch.randn(a.d, device=dev, generator=g)
    offset *= a.offset_norm / offset.norm()
    out = np.lib.format.open_memmap(a.out, mode="w+", dtype=np.float32, shape=(a.rows, a.d))
    chunk = 65536
    for r0 in range(0, a.rows, chunk):
        m = min(chunk, a.rows - r0)
        idx = torch.multinomial(probs, m * a.active, replacement=True, generator=g).view(m, a.active)
        mag = scale[idx] * torch.exp(0.5 * torch.randn(m, a.active, device=dev, generator=g))
        x = F.embedding_bag(idx, feats, per_sample_weights=mag, mode="sum")
        x += offset + a.noise * torch.randn(m, a.d, device=dev, generator=g)
        out[r0:r0 + m] = x.half().float().cpu().numpy()
    out.flush()
    del out
    print(json.dumps({"file": a.out, "rows": a.rows, "d_in": a.d, "n_true": a.n_true, "active": a.active,
                      "seconds": round(time.time() - t0, 2)}))


if __name__ == "__main__":
    main()
