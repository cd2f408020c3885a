#!/usr/bin/env python3
"""tomofuse U-Net vs PyTorch/MONAI, side by side in one run (issue 5, "Speed").

MONAI UNet(spatial_dims=3, in_channels=1, out_channels=2, channels=(16, 32, 64, 128, 256),
strides=(2, 2, 2, 2), num_res_units=2) on CPU, 2 threads on both sides
(torch.set_num_threads(2); RAYON_NUM_THREADS=2 for crates/tomofuse-unet/examples/unet_bench.rs):

- forward 1x1x96^3 (eval, no autograd graph);
- training step on 2x1x64^3: forward + Dice/CE loss + backward + AdamW step.

Each measurement runs in its own process (one warm-up, then the median of --reps runs), so the
peak RSS printed for it belongs to that task alone (Linux VmHWM / ru_maxrss). Before timing, the
script checks that our forward equals MONAI's for the same weights: it exports MONAI's
state_dict and output to a safetensors file and has the Rust example load and compare it.

`--make-reference PATH` writes the small MONAI reference used by
crates/tomofuse-unet/tests/monai_reference.rs (weights, input, output and weight gradients of
a 3-6-12 channel U-Net on 1x1x12^3) and exits.

Ours runs with CANDLE_NUM_THREADS=1 by default (--candle-threads): the convolutions, norms and
optimizer use rayon's 2 threads, while candle's own elementwise ops stay on the calling thread
(candle's spin-barrier pool would otherwise be a third busy thread on the 2 cores).

Not part of CI (torch from PyPI is several GB):
    python3 -m venv /work/venv-torch && /work/venv-torch/bin/pip install torch monai numpy safetensors
    CARGO_TARGET_DIR=/work/target-nn /work/venv-torch/bin/python benches/python/unet_speed.py --reps 7
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
CHANNELS = (16, 32, 64, 128, 256)
CANDLE_THREADS = [1]


def peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def monai_unet(channels=CHANNELS, strides=None):
    from monai.networks.nets import UNet

    strides = strides or (2,) * (len(channels) - 1)
    return UNet(spatial_dims=3, in_channels=1, out_channels=2, channels=channels,
                strides=strides, num_res_units=2)


def randomise_prelu(net, torch):
    """PReLU slopes all start at 0.25; draw them so a wrong slope mapping would show."""
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, p in net.named_parameters():
            if name.endswith("adn.A.weight"):
                p.copy_(torch.rand(p.shape, generator=g) * 0.5)


def child(task, reps, threads):
    """Times one task in this process and prints a JSON line."""
    import torch

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    net = monai_unet()
    t = []
    if task == "forward":
        net.eval()
        x = torch.randn(1, 1, 96, 96, 96)
        with torch.no_grad():
            net(x).sum().item()  # warm-up
            for _ in range(reps):
                s = time.perf_counter()
                net(x).sum().item()
                t.append(time.perf_counter() - s)
    else:
        from monai.losses import DiceCELoss

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
            loss.item()
            return time.perf_counter() - s

        step()  # warm-up
        t = [step() for _ in range(reps)]
    print(json.dumps({"median": statistics.median(t), "min": min(t), "peak_mb": peak_mb(),
                      "torch": torch.__version__, "threads": torch.get_num_threads()}))


def run_torch(task, reps, threads):
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", task,
                          "--reps", str(reps), "--threads", str(threads)],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def rust_binary(build):
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    if build:
        # Both examples in one build: the same feature set, so neither build invalidates the other.
        subprocess.run(["cargo", "build", "--release", "-q", "-p", "tomofuse-unet", "-p",
                        "tomofuse-resnet3d", "--example", "unet_bench", "--example", "resnet_bench"],
                       cwd=ROOT, check=True)
    return os.path.join(target, "release", "examples", "unet_bench")


def run_rust(binary, args, reps, threads):
    env = {**os.environ, "RAYON_NUM_THREADS": str(threads), "REPS": str(reps),
           "CANDLE_NUM_THREADS": str(CANDLE_THREADS[0])}
    out = subprocess.run([binary, *args], check=True, capture_output=True, text=True,
                         env=env).stdout
    res = {}
    for line in out.splitlines():
        if line.startswith("{"):
            res = json.loads(line)
    return res, out


def export_case(path, channels, size, grads, torch):
    """MONAI weights + input + output (+ weight gradients of sum(y * r)) as one safetensors."""
    from safetensors.torch import save_file

    torch.manual_seed(0)
    net = monai_unet(channels)
    randomise_prelu(net, torch)
    net.eval()
    x = torch.randn(1, 1, size, size, size)
    tensors = {k: v.detach().clone().contiguous() for k, v in net.state_dict().items()}
    if grads:
        y = net(x)
        r = torch.randn_like(y)
        (y * r).sum().backward()
        tensors["io.r"] = r
        for k, p in net.named_parameters():
            tensors["grad." + k] = p.grad.detach().clone().contiguous()
        y = y.detach()
    else:
        with torch.no_grad():
            y = net(x)
    tensors["io.x"] = x
    tensors["io.y"] = y.contiguous()
    save_file(tensors, path, metadata={
        "source": f"monai.networks.nets.UNet(3, 1, 2, channels={channels}, strides=2, "
                  f"num_res_units=2), torch.manual_seed(0), PReLU slopes U(0, 0.5) seed 1; "
                  f"torch {torch.__version__}; benches/python/unet_speed.py"})
    return path


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--candle-threads", type=int, default=1,
                    help="CANDLE_NUM_THREADS for ours: candle's own elementwise ops (adds, cat, "
                         "loss) run on a spin-barrier pool that competes with rayon's threads "
                         "for the cores; 1 keeps them on the calling thread")
    ap.add_argument("--child", choices=["forward", "train"])
    ap.add_argument("--no-build", action="store_true", help="use the already built example")
    ap.add_argument("--no-check", action="store_true")
    ap.add_argument("--make-reference", metavar="PATH")
    a = ap.parse_args()
    if a.child:
        return child(a.child, a.reps, a.threads)
    import torch

    if a.make_reference:
        export_case(a.make_reference, (3, 6, 12), 12, True, torch)
        print(f"wrote {a.make_reference} ({os.path.getsize(a.make_reference)} bytes)")
        return

    CANDLE_THREADS[0] = a.candle_threads
    binary = rust_binary(not a.no_build)
    print(f"load average at start: {os.getloadavg()}")
    if not a.no_check:
        with tempfile.TemporaryDirectory() as d:
            p = export_case(os.path.join(d, "monai_unet.safetensors"), CHANNELS, 96, False, torch)
            res, _ = run_rust(binary, ["check", p], 1, a.threads)
        print(f"numerical check, MONAI weights, forward 1x1x96^3: max |ours - MONAI| "
              f"{res['max_abs_err']:.3g}, max |MONAI| {res['max_abs']:.3g}, "
              f"relative {res['rel_err']:.3g} -> {'OK' if res['rel_err'] <= 1e-4 else 'FAIL'}")

    rows = []
    for task, args in [("forward 1x1x96^3", ["forward"]), ("train step 2x1x64^3", ["train"])]:
        t = run_torch(args[0], a.reps, a.threads)
        r, _ = run_rust(binary, args, a.reps, a.threads)
        rows.append((task, t, r))
    print(f"\ntorch {rows[0][1]['torch']}, {a.threads} threads each side "
          f"(ours: RAYON_NUM_THREADS={a.threads}, CANDLE_NUM_THREADS={a.candle_threads}), median of {a.reps} "
          f"runs after 1 warm-up; load average at end: {os.getloadavg()}")
    print(f"{'task':<22}{'torch s':>9}{'ours s':>9}{'ratio':>8}{'torch min':>11}{'ours min':>10}"
          f"{'ratio':>8}{'torch MB':>10}{'ours MB':>9}")
    for task, t, r in rows:
        print(f"{task:<22}{t['median']:>9.3f}{r['median']:>9.3f}"
              f"{r['median'] / t['median']:>7.2f}x{t['min']:>11.3f}{r['min']:>10.3f}"
              f"{r['min'] / t['min']:>7.2f}x{t['peak_mb']:>10.0f}{r['peak_mb']:>9.0f}")


if __name__ == "__main__":
    main()
