"""The ceilings the CUDA kernels are judged against, measured in the same device call as the kernels.

bf16, TF32 and fp32 matrix products of the encoder's shape (batch x dIn) . (dIn x numLatents) through PyTorch, and
the device-to-device copy bandwidth (bytes read plus bytes written). Each number is the median of many runs timed
with CUDA events after a warm-up, on random data (never zeros). Prints one JSON object.
"""
import argparse
import json
import statistics

import torch


def median_ms(fn, reps, warmup=5):
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        start = torch.cuda.Event(enable_timing=True)
        stop = torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        stop.record()
        stop.synchronize()
        times.append(start.elapsed_time(stop))
    return statistics.median(times)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--batch", type=int, default=8192)
    p.add_argument("--dIn", type=int, default=1024)
    p.add_argument("--numLatents", type=int, default=65536)
    p.add_argument("--reps", type=int, default=30)
    a = p.parse_args()
    dev = torch.device("cuda")
    torch.manual_seed(0)
    m, k, n = a.batch, a.dIn, a.numLatents
    flops = 2.0 * m * n * k
    out = {
        "device": torch.cuda.get_device_name(0),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "shape": {"batch": m, "dIn": k, "numLatents": n},
    }

    x = torch.randn(m, k, device=dev)
    w = torch.randn(n, k, device=dev)
    xb, wb = x.bfloat16(), w.bfloat16()
    t = median_ms(lambda: xb @ wb.T, a.reps)
    out["bf16_ms"], out["bf16_tflops"] = t, flops / (t * 1e-3) / 1e12

    torch.backends.cuda.matmul.allow_tf32 = True
    t = median_ms(lambda: x @ w.T, a.reps)
    out["tf32_ms"], out["tf32_tflops"] = t, flops / (t * 1e-3) / 1e12
    torch.backends.cuda.matmul.allow_tf32 = False
    t = median_ms(lambda: x @ w.T, max(5, a.reps // 3))
    out["fp32_ms"], out["fp32_tflops"] = t, flops / (t * 1e-3) / 1e12
    del x, w, xb, wb

    s = 8192
    q = torch.randn(s, s, device=dev, dtype=torch.bfloat16)
    t = median_ms(lambda: q @ q, a.reps)
    out["bf16_square_8192_tflops"] = 2.0 * s ** 3 / (t * 1e-3) / 1e12
    del q

    src = torch.rand(1 << 28, device=dev)  # 1 GiB
    dst = torch.empty_like(src)
    t = median_ms(lambda: dst.copy_(src), a.reps)
    out["copy_bytes"] = 2 * src.numel() * 4
    out["copy_ms"], out["copy_gbps"] = t, out["copy_bytes"] / (t * 1e-3) / 1e9
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
