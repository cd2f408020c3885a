#!/usr/bin/env python3
"""PyTorch CPU (2 threads) + MONAI vs tomofuse: ResNet50-3D forward on 1x1x64^3 and conv3d
(1x16x64^3, 16->16, 3x3x3, pad 1) forward/backward. Prints both times and the ratio.

Not part of CI (torch is several GB):
    pip install torch monai        # from PyPI
    python3 benches/python/torch_speed.py [--size 64] [--widen 1.0] [--reps 5]

The Rust side runs `cargo run --release -p tomofuse-resnet3d --example resnet_bench` (set
CARGO_TARGET_DIR as usual) unless --rust-seconds is given.
"""
import argparse
import os
import re
import statistics
import subprocess
import time

import torch
from monai.networks.nets import resnet50


def timeit(fn, reps):
    fn()  # warm-up
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--widen", type=float, default=1.0)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rust-seconds", type=float, default=None)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)

    net = resnet50(spatial_dims=3, n_input_channels=1, num_classes=2, widen_factor=a.widen).eval()
    x = torch.randn(1, 1, a.size, a.size, a.size)
    with torch.no_grad():
        t_torch = timeit(lambda: net(x), a.reps)
    print(f"torch {torch.__version__} resnet50-3d widen {a.widen} forward 1x1x{a.size}^3: "
          f"{t_torch:.3f} s ({a.threads} threads)")

    conv = torch.nn.Conv3d(16, 16, 3, padding=1)
    xc = torch.randn(1, 16, 64, 64, 64, requires_grad=True)
    with torch.no_grad():
        t_cf = timeit(lambda: conv(xc), a.reps)
    yc = conv(xc)
    g = torch.randn_like(yc)
    t_cb = timeit(lambda: torch.autograd.grad(yc, [xc, conv.weight, conv.bias], g,
                                              retain_graph=True), a.reps)
    print(f"torch conv3d 1x16x64^3 16->16 k3: forward {t_cf:.3f} s, backward {t_cb:.3f} s")

    if a.rust_seconds is not None:
        t_rust = a.rust_seconds
    else:
        root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
        out = subprocess.run(
            ["cargo", "run", "--release", "-q", "-p", "tomofuse-resnet3d", "--example",
             "resnet_bench", "--", str(a.size), str(a.widen), str(a.reps)],
            cwd=root, check=True, capture_output=True, text=True).stdout
        print(out.strip())
        t_rust = float(re.search(r"median ([0-9.]+) s", out).group(1))
    print(f"resnet50-3d forward: tomofuse {t_rust:.3f} s / torch {t_torch:.3f} s = "
          f"ratio {t_rust / t_torch:.2f}x")


if __name__ == "__main__":
    main()
