#!/usr/bin/env python3
"""Resamples a volume with SimpleITK and compares with tomofuse's result.

Exchange format (written by the cargo test `simpleitk_agreement` of tomofuse-preprocess, or by
hand): in DIR, `input.raw` (float32 little endian, x/i fastest) + `input.json`
({"shape": [ni,nj,nk], "spacing": [...], "origin": [...], "direction": 9 numbers row-major,
LPS}). Each case is `case_<name>.json` {"interp": "nearest|linear|bspline|label_linear", and either
"spacing": [..] (ITK grid: origin and direction kept, size = floor(n*s/s' + 0.5)) or
"reference": {shape, spacing, origin, direction}}. For every case this script writes
`sitk_<name>.raw/.json`, and when `rust_<name>.raw` exists prints the max abs difference and
exits 1 if it exceeds the tolerance (nearest 0, linear 1e-3, bspline 0.5 HU). `label_linear`
treats the input as a label map (`sitkLabelLinear`, uint8): every voxel must agree except at
ties, where the two largest interpolated label shares (background included, not both 0) are
within 1e-4 and float rounding picks the winner.

Usage: resample_compare.py DIR [--threads N]
"""
import argparse
import glob
import json
import math
import os
import sys
import time

import numpy as np
import SimpleITK as sitk

TOL = {"nearest": 0.0, "linear": 1e-3, "bspline": 0.5, "label_linear": 0.0}
INTERP = {"nearest": sitk.sitkNearestNeighbor, "linear": sitk.sitkLinear, "bspline": sitk.sitkBSpline,
          "label_linear": sitk.sitkLabelLinear}


def label_ties(img, grid):
    """Voxels of the output grid where the top two interpolated label shares are within 1e-4."""
    arr = sitk.GetArrayViewFromImage(img)
    shares = []
    for lab in np.unique(arr):
        ind = sitk.GetImageFromArray((arr == lab).astype(np.float32))
        ind.CopyInformation(img)
        r = sitk.Resample(ind, *grid[:1], sitk.Transform(), sitk.sitkLinear, *grid[1:], 0.0, sitk.sitkFloat32)
        shares.append(sitk.GetArrayFromImage(r))
    s = np.sort(np.stack(shares), axis=0)
    # Outside the input every share is 0: background on both sides, not a tie.
    return ((s[-1] - s[-2]) < 1e-4) & (s[-1] > 1e-4)


def load(stem):
    meta = json.load(open(stem + ".json"))
    ni, nj, nk = meta["shape"]
    arr = np.fromfile(stem + ".raw", dtype="<f4").reshape(nk, nj, ni)
    img = sitk.GetImageFromArray(arr)
    img.SetSpacing(meta["spacing"])
    img.SetOrigin(meta["origin"])
    img.SetDirection(meta["direction"])
    return img, arr


def save(stem, img):
    arr = sitk.GetArrayFromImage(img).astype("<f4")
    arr.tofile(stem + ".raw")
    json.dump(
        {"shape": list(img.GetSize()), "spacing": list(img.GetSpacing()), "origin": list(img.GetOrigin()),
         "direction": list(img.GetDirection())},
        open(stem + ".json", "w"),
    )
    return arr


def itk_grid(img, spacing):
    size = [max(1, int(math.floor(n * s / t + 0.5))) for n, s, t in zip(img.GetSize(), img.GetSpacing(), spacing)]
    return size, list(spacing), img.GetOrigin(), img.GetDirection()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(args.threads)
    img, _ = load(os.path.join(args.dir, "input"))
    failed = False
    for case in sorted(glob.glob(os.path.join(args.dir, "case_*.json"))):
        name = os.path.basename(case)[5:-5]
        c = json.load(open(case))
        if "reference" in c:
            r = c["reference"]
            size, spacing, origin, direction = r["shape"], r["spacing"], r["origin"], r["direction"]
        else:
            size, spacing, origin, direction = itk_grid(img, c["spacing"])
        size = [int(s) for s in size]
        src, pixel = img, sitk.sitkFloat32
        if c["interp"] == "label_linear":
            src, pixel = sitk.Cast(img, sitk.sitkUInt8), sitk.sitkUInt8
        t0 = time.perf_counter()
        out = sitk.Resample(src, size, sitk.Transform(), INTERP[c["interp"]], origin, spacing, direction, 0.0, pixel)
        dt = time.perf_counter() - t0
        out = sitk.Cast(out, sitk.sitkFloat32)
        ref = save(os.path.join(args.dir, "sitk_" + name), out)
        rust_stem = os.path.join(args.dir, "rust_" + name)
        if os.path.exists(rust_stem + ".raw"):
            meta = json.load(open(rust_stem + ".json"))
            if list(meta["shape"]) != list(out.GetSize()):
                print(f"{name}: shape mismatch tomofuse {meta['shape']} vs SimpleITK {list(out.GetSize())}")
                failed = True
                continue
            ours = np.fromfile(rust_stem + ".raw", dtype="<f4").reshape(ref.shape)
            diff = np.abs(ours.astype(np.float64) - ref.astype(np.float64))
            if c["interp"] == "label_linear":
                ties = label_ties(src, (size, origin, spacing, direction))
                print(f"{name}: {int((diff > 0).sum())} of {diff.size} voxels differ, "
                      f"{int(((diff > 0) & ties).sum())} of them at ties ({int(ties.sum())} ties)")
                diff[ties] = 0.0
            md = float(diff.max())
            n_bad = int((diff > TOL[c["interp"]]).sum())
            ok = md <= TOL[c["interp"]]
            failed |= not ok
            print(f"{name}: interp={c['interp']} shape={list(out.GetSize())} max_abs_diff={md:.6g} HU "
                  f"(tol {TOL[c['interp']]}) voxels_over_tol={n_bad} sitk_time={dt:.3f}s {'OK' if ok else 'FAIL'}")
        else:
            print(f"{name}: interp={c['interp']} shape={list(out.GetSize())} sitk_time={dt:.3f}s (no tomofuse output to compare)")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
