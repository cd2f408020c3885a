"""PyTorch/MONAI peer of crates/tomofuse-unet/examples/unet_bench.rs.

MONAI UNet(spatial_dims=3, in 1, out 2, channels 16-32-64-128-256, strides 2, num_res_units=2)
on CPU with 2 threads: forward 1x1x96^3 (no_grad, eval) and a training step on 2x1x64^3
(forward, Dice+CE loss, backward, AdamW). Prints median seconds and peak RSS; with --rust it
also runs the Rust example and prints the ratio Rust / PyTorch.

Needs: pip install torch monai (large; keep out of CI).
Usage: python benches/python/unet_speed.py [--reps 5] [--rust]
"""
import argparse
import resource
import statistics
import subprocess
import time

import torch
from monai.networks.nets import UNet
from monai.losses import DiceCELoss


def peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--rust", action="store_true", help="also run the Rust example and print ratios")
    a = ap.parse_args()
    torch.set_num_threads(2)
    torch.manual_seed(0)
    net = UNet(spatial_dims=3, in_channels=1, out_channels=2, channels=(16, 32, 64, 128, 256),
               strides=(2, 2, 2, 2), num_res_units=2)
    x = torch.randn(1, 1, 96, 96, 96)
    net.eval()
    with torch.no_grad():
        net(x)
        t = []
        for _ in range(a.reps):
            s = time.perf_counter()
            net(x).sum().item()
            t.append(time.perf_counter() - s)
    fwd = statistics.median(t)
    print(f"torch forward 1x1x96^3: median {fwd:.3f} s (min {min(t):.3f}), peak RSS {peak_mb():.0f} MB")

    net.train()
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3)
    loss_fn = DiceCELoss(to_onehot_y=True, softmax=True)
    x = torch.randn(2, 1, 64, 64, 64)
    y = (torch.rand(2, 1, 64, 64, 64) > 0.7).long()

    def step():
        s = time.perf_counter()
        opt.zero_grad()
        loss = loss_fn(net(x), y)
        loss.backward()
        opt.step()
        return time.perf_counter() - s

    step()
    t = [step() for _ in range(a.reps)]
    trn = statistics.median(t)
    print(f"torch train step 2x1x64^3: median {trn:.3f} s (min {min(t):.3f}), peak RSS {peak_mb():.0f} MB")

    if a.rust:
        out = subprocess.run(
            ["cargo", "run", "--release", "-q", "-p", "tomofuse-unet", "--example", "unet_bench"],
            capture_output=True, text=True, check=True,
            env={**__import__("os").environ, "RAYON_NUM_THREADS": "2", "REPS": str(a.reps)},
        ).stdout
        print(out.strip())
        vals = {}
        for line in out.splitlines():
            if "median" in line:
                key = "forward" if line.startswith("forward") else "train"
                vals[key] = float(line.split("median")[1].split()[0])
        if "forward" in vals:
            print(f"ratio forward rust/torch: {vals['forward'] / fwd:.2f}x")
        if "train" in vals:
            print(f"ratio train step rust/torch: {vals['train'] / trn:.2f}x")


if __name__ == "__main__":
    main()
