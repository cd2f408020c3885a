#!/usr/bin/env python3
"""tomofuse ResNet50-3D (and one conv3d layer) vs PyTorch/MONAI, side by side in one run.

- MONAI resnet50(spatial_dims=3, n_input_channels=1, num_classes=2, widen_factor=1.0), eval
  forward on 1x1x64^3 (no autograd graph), against
  crates/tomofuse-resnet3d/examples/resnet_bench.rs (weights as plain tensors, as loaded from
  a checkpoint);
- conv3d 1x16x64^3, 16->16, 3x3x3, padding 1: forward and backward (min of the runs);
- a ResNet50-3D fine-tuning step as `tomofuse_resnet3d::train::finetune` takes it: MONAI
  resnet50(spatial_dims=3, n_input_channels=1, num_classes=1, widen_factor=0.25,
  conv1_t_stride=2) in training mode on a 4x1x32^3 batch, forward + BCEWithLogitsLoss +
  backward + AdamW(lr 1e-3, weight decay 1e-2) step, against
  crates/tomofuse-resnet3d/examples/finetune_step.rs (`train::TrainStep`, the same code path).

2 threads on both sides (torch.set_num_threads; RAYON_NUM_THREADS for ours). Each side runs in
its own process: one warm-up, then the median of --reps runs; the peak RSS (ru_maxrss / VmHWM)
is that process's. The script prints the load average, since on a shared machine the wall
time measures the wait for a core as much as the work.

Ours runs with CANDLE_NUM_THREADS=1 by default (--candle-threads): the convolutions, norms and
optimizer use rayon's 2 threads, while candle's own elementwise ops stay on the calling thread
(candle's spin-barrier pool would otherwise be a third busy thread on the 2 cores).

Not part of CI (torch from PyPI is several GB):
    python3 -m venv /work/venv-torch && /work/venv-torch/bin/pip install torch monai numpy safetensors
    CARGO_TARGET_DIR=/work/target-nn /work/venv-torch/bin/python benches/python/torch_speed.py --reps 7
"""
import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))


def peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def child(task, a):
    import torch

    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    if task == "resnet":
        from monai.networks.nets import resnet50

        net = resnet50(spatial_dims=3, n_input_channels=1, num_classes=2,
                       widen_factor=a.widen).eval()
        x = torch.randn(1, 1, a.size, a.size, a.size)
        with torch.no_grad():
            net(x).sum().item()  # warm-up
            t = []
            for _ in range(a.reps):
                s = time.perf_counter()
                net(x).sum().item()
                t.append(time.perf_counter() - s)
        print(json.dumps({"median": statistics.median(t), "min": min(t), "peak_mb": peak_mb(),
                          "torch": torch.__version__}))
    elif task == "finetune":
        from monai.networks.nets import resnet50

        net = resnet50(spatial_dims=3, n_input_channels=1, num_classes=1, widen_factor=0.25,
                       conv1_t_stride=2).train()
        opt = torch.optim.AdamW(net.parameters(), lr=1e-3, weight_decay=1e-2)
        loss_fn = torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor(1.0))
        x = torch.randn(a.batch, 1, 32, 32, 32)
        y = torch.tensor([float(i % 2) for i in range(a.batch)])

        def step():
            s = time.perf_counter()
            opt.zero_grad()
            loss = loss_fn(net(x).flatten(), y)
            loss.backward()
            opt.step()
            loss.item()
            return time.perf_counter() - s

        step()  # warm-up
        t = [step() for _ in range(a.reps)]
        print(json.dumps({"median": statistics.median(t), "min": min(t), "peak_mb": peak_mb()}))
    else:
        conv = torch.nn.Conv3d(16, 16, 3, padding=1)
        x = torch.randn(1, 16, 64, 64, 64, requires_grad=True)
        tf, tb = [], []
        for _ in range(a.reps + 1):
            s = time.perf_counter()
            y = conv(x)
            tf.append(time.perf_counter() - s)
            s = time.perf_counter()
            y.backward(torch.ones_like(y))
            tb.append(time.perf_counter() - s)
        print(json.dumps({"forward": min(tf[1:]), "backward": min(tb[1:])}))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--widen", type=float, default=1.0)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--candle-threads", type=int, default=1,
                    help="CANDLE_NUM_THREADS for ours: candle's own elementwise ops (adds, cat, "
                         "loss) run on a spin-barrier pool that competes with rayon's threads "
                         "for the cores; 1 keeps them on the calling thread")
    ap.add_argument("--batch", type=int, default=4, help="fine-tuning step batch (1x32^3 crops)")
    ap.add_argument("--child", choices=["resnet", "conv", "finetune"])
    ap.add_argument("--no-build", action="store_true", help="use the already built example")
    a = ap.parse_args()
    if a.child:
        return child(a.child, a)

    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    if not a.no_build:
        # Both examples in one build: the same feature set, so neither build invalidates the other.
        subprocess.run(["cargo", "build", "--release", "-q", "-p", "tomofuse-unet", "-p",
                        "tomofuse-resnet3d", "--example", "unet_bench", "--example", "resnet_bench",
                        "--example", "finetune_step"],
                       cwd=ROOT, check=True)
    binary = os.path.join(target, "release", "examples", "resnet_bench")
    env = {**os.environ, "RAYON_NUM_THREADS": str(a.threads),
           "CANDLE_NUM_THREADS": str(a.candle_threads)}

    def torch_side(task):
        out = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", task,
                              "--reps", str(a.reps), "--threads", str(a.threads),
                              "--size", str(a.size), "--widen", str(a.widen),
                              "--batch", str(a.batch)],
                             check=True, capture_output=True, text=True).stdout
        return json.loads(out.strip().splitlines()[-1])

    def rust_side(args, exe=binary):
        return subprocess.run([exe, *args], check=True, capture_output=True, text=True,
                              env=env).stdout

    print(f"load average at start: {os.getloadavg()}")
    t = torch_side("resnet")
    out = rust_side([str(a.size), str(a.widen), str(a.reps)])
    r = json.loads([l for l in out.splitlines() if l.startswith("{")][-1])
    tc = torch_side("conv")
    out_c = rust_side(["conv", str(a.reps)])
    m = re.search(r"forward ([0-9.]+) s wall.*backward ([0-9.]+) s wall", out_c)
    rf, rb = float(m.group(1)), float(m.group(2))
    tft = torch_side("finetune")
    out_f = rust_side([str(a.reps), str(a.batch)],
                      os.path.join(target, "release", "examples", "finetune_step"))
    rft = json.loads([l for l in out_f.splitlines() if l.startswith("{")][-1])

    print(f"torch {t['torch']}, {a.threads} threads each side (ours: RAYON_NUM_THREADS="
          f"{a.threads}, CANDLE_NUM_THREADS={a.candle_threads}); load average at end: "
          f"{os.getloadavg()}")
    print(f"{'task':<48}{'torch s':>9}{'ours s':>9}{'ratio':>8}{'torch MB':>10}{'ours MB':>9}")
    print(f"{f'resnet50-3d w{a.widen} fwd 1x1x{a.size}^3 (median)':<48}{t['median']:>9.3f}"
          f"{r['median']:>9.3f}{r['median'] / t['median']:>7.2f}x{t['peak_mb']:>10.0f}"
          f"{r['peak_mb']:>9.0f}")
    print(f"{f'resnet50-3d w{a.widen} fwd 1x1x{a.size}^3 (min)':<48}{t['min']:>9.3f}"
          f"{r['min']:>9.3f}{r['min'] / t['min']:>7.2f}x")
    print(f"{'conv3d 16->16 k3 64^3 forward (min)':<48}{tc['forward']:>9.3f}{rf:>9.3f}"
          f"{rf / tc['forward']:>7.2f}x")
    print(f"{'conv3d 16->16 k3 64^3 backward (min)':<48}{tc['backward']:>9.3f}{rb:>9.3f}"
          f"{rb / tc['backward']:>7.2f}x")
    for k in ("median", "min"):
        print(f"{f'resnet50-3d w0.25 finetune step {a.batch}x1x32^3 ({k})':<48}{tft[k]:>9.3f}"
              f"{rft[k]:>9.3f}{rft[k] / tft[k]:>7.2f}x"
              + (f"{tft['peak_mb']:>10.0f}{rft['peak_mb']:>9.0f}" if k == "median" else ""))


if __name__ == "__main__":
    main()
