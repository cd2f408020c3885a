#!/usr/bin/env python3
"""Side-by-side NIfTI read/write speed: tomofuse-io (examples/io_time) vs SimpleITK
(ReadImage/WriteImage) and nibabel (load + np.asarray(img.dataobj), save), in one run with a
warm page cache, on synthetic 512x512x160 CT-like volumes (int16 and float32) written by nibabel
to a temporary folder as .nii and .nii.gz. Every time is the median of --repeats runs (default 5);
the ratio is tomofuse / peer (< 1: tomofuse faster).

What each side returns differs, and the table says so: tomofuse reads into f32 (scaled) in its
C layout (one transposing pass), SimpleITK and nibabel keep the stored type in file order.
Written .nii.gz sizes are printed too, since the compression level sets the write time.

Usage: io_speed.py [--bin PATH_TO_io_time] [--before OLD_io_time] [--threads 2] [--repeats 5] [--json OUT.json]
Build first:  CARGO_TARGET_DIR=... cargo build --release -p tomofuse-io --example io_time
(--before: the same example built from an older commit, for before/after in one run.)
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import nibabel as nib
import numpy as np
import SimpleITK as sitk

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
SHAPE = (512, 512, 160)
SPACING = (0.7, 0.7, 2.5)


def phantom(dtype):
    """CT-like values (HU): air, an elliptical body of soft tissue with two lungs and a bony
    ring, plus Gaussian noise, so gzip sees realistic redundancy (not a constant, not noise)."""
    rng = np.random.default_rng(20261206)
    ni, nj, nk = SHAPE
    x = (np.arange(ni) - ni / 2)[:, None] / (ni * 0.42)
    y = (np.arange(nj) - nj / 2)[None, :] / (nj * 0.32)
    r = x * x + y * y
    plane = np.full((ni, nj), -1000.0)
    plane[r < 1.0] = 40.0
    plane[(r < 1.0) & (r > 0.85)] = 700.0
    for cx in (-0.45, 0.45):
        plane[((x - cx) ** 2 / 0.12 + y * y / 0.5) < 1.0] = -850.0
    vol = np.empty(SHAPE, dtype=np.float32)
    for k in range(nk):
        vol[:, :, k] = plane * (1.0 + 0.05 * np.sin(k / 20.0))
    vol += rng.normal(0.0, 15.0, size=SHAPE).astype(np.float32)
    return np.clip(np.rint(vol), -1024, 3071).astype(dtype)


def make_inputs(tmp):
    aff = np.diag([-SPACING[0], -SPACING[1], SPACING[2], 1.0])
    aff[:3, 3] = [180.0, 200.0, -300.0]
    files = []
    for name, dtype in [("int16", np.int16), ("float32", np.float32)]:
        img = nib.Nifti1Image(phantom(dtype), aff)
        img.header.set_data_dtype(dtype)
        img.header.set_slope_inter(1.0, 0.0)
        for ext in ("nii", "nii.gz"):
            p = os.path.join(tmp, f"ct_{name}.{ext}")
            nib.save(img, p)
            files.append((name, ext, p))
    return files


def median_time(fn, repeats):
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


def ours(binary, args, env):
    out = subprocess.run([binary, *args], env=env, check=True, capture_output=True, text=True).stdout
    return json.loads(out)["median_s"]


def main():
    ap = argparse.ArgumentParser()
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    ap.add_argument("--bin", default=os.path.join(target, "release", "examples", "io_time"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--before", help="an io_time built from an older tomofuse, timed as 'tomofuse before'")
    ap.add_argument("--json", help="also write the figures here")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = ap.parse_args()
    if not os.path.exists(args.bin):
        sys.exit(f"{args.bin} not found: cargo build --release -p tomofuse-io --example io_time")
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(args.threads)
    env = dict(os.environ, RAYON_NUM_THREADS=str(args.threads))
    tmp = tempfile.mkdtemp(prefix="io_speed_")
    rows = []
    try:
        files = make_inputs(tmp)
        n = args.repeats
        for name, ext, path in files:
            # Warm the page cache and every reader once.
            sitk.ReadImage(path)
            np.asarray(nib.load(path, mmap=False).dataobj)
            ours(args.bin, ["read", path, "1"], env)
            r = {}
            if args.before:
                ours(args.before, ["read", path, "1"], env)
                r["read before"] = ours(args.before, ["read", path, str(n)], env)
            r.update({
                "read tomofuse": ours(args.bin, ["read", path, str(n)], env),
                "read SimpleITK": median_time(lambda: sitk.ReadImage(path), n),
                # mmap=False: really read (an uncompressed file is memory-mapped otherwise).
                "read nibabel": median_time(lambda: np.asarray(nib.load(path, mmap=False).dataobj), n),
            })
            out = os.path.join(tmp, f"out.{ext}")
            if args.before:
                r["write before"] = ours(args.before, ["write", path, out, str(n)], env)
            r["write tomofuse"] = ours(args.bin, ["write", path, out, str(n)], env)
            size_ours = os.path.getsize(out)
            img = sitk.ReadImage(path)
            r["write SimpleITK"] = median_time(lambda: sitk.WriteImage(img, out), n)
            size_sitk = os.path.getsize(out)
            nimg = nib.load(path)
            arr = np.asarray(nimg.dataobj)
            nimg2 = nib.Nifti1Image(arr, nimg.affine, nimg.header)
            r["write nibabel"] = median_time(lambda: nib.save(nimg2, out), n)
            size_nib = os.path.getsize(out)
            written = {"tomofuse": size_ours, "SimpleITK": size_sitk, "nibabel": size_nib}
            if args.before:
                ours(args.before, ["write", path, out, "1"], env)
                written["before"] = os.path.getsize(out)
            rows.append({"dtype": name, "ext": ext, "times_s": r, "written_bytes": written})
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    load = os.getloadavg()
    print(f"512x512x160 synthetic CT, {args.threads} threads, median of {args.repeats}, "
          f"SimpleITK {sitk.Version.VersionString()}, nibabel {nib.__version__}, load average {load[0]:.2f}")
    before = f"{'before':>9s} " if args.before else ""
    print(f"{'case':16s} {'op':5s} {before}{'tomofuse':>9s} {'SimpleITK':>9s} {'nibabel':>9s} "
          f"{'/SimpleITK':>10s} {'/nibabel':>9s}" + (f" {'before/SITK':>11s}" if args.before else ""))
    for row in rows:
        t = row["times_s"]
        case = f"{row['dtype']} .{row['ext']}"
        for op in ("read", "write"):
            a, s, b = t[f"{op} tomofuse"], t[f"{op} SimpleITK"], t[f"{op} nibabel"]
            row[f"{op}_ratio_sitk"], row[f"{op}_ratio_nibabel"] = a / s, a / b
            old = t.get(f"{op} before")
            col = f"{old:9.3f} " if old is not None else ""
            tail = f" {old / s:11.2f}" if old is not None else ""
            print(f"{case:16s} {op:5s} {col}{a:9.3f} {s:9.3f} {b:9.3f} {a / s:10.2f} {a / b:9.2f}{tail}")
        if row["ext"] == "nii.gz":
            w = row["written_bytes"]
            print(f"{'':16s} gz bytes: tomofuse {w['tomofuse'] / 1e6:.1f} MB, SimpleITK {w['SimpleITK'] / 1e6:.1f} MB, "
                  f"nibabel {w['nibabel'] / 1e6:.1f} MB" + (f", before {w['before'] / 1e6:.1f} MB" if "before" in w else ""))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"threads": args.threads, "repeats": args.repeats, "load_average": load, "rows": rows}, f,
                      indent=1)


if __name__ == "__main__":
    main()
