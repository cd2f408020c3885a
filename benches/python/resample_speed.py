#!/usr/bin/env python3
"""Side-by-side resampling speed: tomofuse (examples/resample_bench) vs SimpleITK 2.5, same
thread count (default 2), on a 512x512x160 int16 CT with spacing (0.7, 0.7, 2.5) resampled to
1 mm isotropic (ITK grid). The test CT is built from the PyRadiomics lung CT in ../shared
(resampled in SimpleITK to that grid, int16). Prints both times and the ratio tomofuse/SimpleITK
(targets: nearest <= 0.5, linear <= 0.5, bspline <= 0.25).

Usage: resample_speed.py [--bench PATH_TO_resample_bench] [--threads 2] [--repeats 3]
Build the bench first: CARGO_TARGET_DIR=... cargo build --release -p tomofuse-preprocess --example resample_bench
"""
import argparse
import math
import os
import subprocess
import sys
import tempfile
import time

import SimpleITK as sitk

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
TARGET = {"nearest": 0.5, "linear": 0.5, "bspline": 0.25}
INTERP = {"nearest": sitk.sitkNearestNeighbor, "linear": sitk.sitkLinear, "bspline": sitk.sitkBSpline}


def make_ct(path):
    shared = os.environ.get("TOMOFUSE_SHARED", os.path.join(ROOT, "..", "shared"))
    src = sitk.ReadImage(os.path.join(shared, "data/ct/pyradiomics_lung/lung1_image.nrrd"), sitk.sitkFloat32)
    size, spacing = [512, 512, 160], [0.7, 0.7, 2.5]
    centre = src.TransformContinuousIndexToPhysicalPoint([(n - 1) / 2 for n in src.GetSize()])
    origin = [c - (n - 1) * s / 2 for c, n, s in zip(centre, size, spacing)]
    ct = sitk.Resample(src, size, sitk.Transform(), sitk.sitkLinear, origin, spacing, src.GetDirection(), -1024.0,
                       sitk.sitkInt16)
    sitk.WriteImage(ct, path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bench", default=os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")),
                                                    "release", "examples", "resample_bench"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="resample_speed_")
    path = os.path.join(tmp, "ct_512x512x160.nii")
    make_ct(path)
    target = [1.0, 1.0, 1.0]
    env = dict(os.environ, RAYON_NUM_THREADS=str(args.threads))
    out = subprocess.run([args.bench, path, ",".join(map(str, target)), str(args.repeats)], env=env, check=True,
                         capture_output=True, text=True).stdout
    ours = {l.split()[0]: (float(l.split()[1]), l.split()[2]) for l in out.strip().splitlines()}
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(args.threads)
    img = sitk.ReadImage(path)  # int16, as tomofuse reads it (then converts to f32 internally)
    size = [max(1, int(math.floor(n * s / t + 0.5))) for n, s, t in zip(img.GetSize(), img.GetSpacing(), target)]
    ok = True
    print(f"512x512x160 int16, spacing (0.7,0.7,2.5) -> 1 mm, {args.threads} threads, best of {args.repeats}")
    for name in ["nearest", "linear", "bspline"]:
        best = math.inf
        for _ in range(args.repeats if name != "bspline" else 1):
            t0 = time.perf_counter()
            r = sitk.Resample(img, size, sitk.Transform(), INTERP[name], img.GetOrigin(), target, img.GetDirection(),
                              0.0, sitk.sitkFloat32)
            best = min(best, time.perf_counter() - t0)
        t, shape = ours[name]
        ratio = t / best
        ok &= ratio <= TARGET[name]
        print(f"{name:8s} tomofuse {t:.3f} s  SimpleITK {best:.3f} s  ratio {ratio:.3f} (target <= {TARGET[name]}) "
              f"shapes {shape} / {'x'.join(map(str, r.GetSize()))}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
