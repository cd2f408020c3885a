"""Reference voxel maps from PyRadiomics 3.0.1 (`voxelBased=True`) for the tomofuse voxel-map tests.

Crops the pyradiomics lung1 lesion (label 1, 837 voxels) with a margin of 3 voxels, stores the
crop (image and mask, .nii.gz) and, for kernelRadius 1 and 2 with maskedKernel true and false,
every PyRadiomics voxel map (firstorder, glcm, glrlm, glszm, gldm, ngtdm) sampled at the ROI
voxels. The maps of one configuration are stored as one float32 .nii.gz "matrix" of size
(ROI voxels, features, 1) (NIfTI only because tomofuse-io reads it and gzip keeps it small), the
feature order in features.txt, the ROI voxel order is numpy's C order of the [z, y, x] crop
(x fastest), i.e. tomofuse index (i, j, k) ordered by k, then j, then i.

Run (venv of benches/README.md):
  python benches/python/voxel_reference.py --out crates/tomofuse-radiomics/tests/data/voxel
"""

import argparse
import json
import os
import time

import numpy as np
import SimpleITK as sitk
from radiomics import featureextractor, setVerbosity

CLASSES = ["firstorder", "glcm", "glrlm", "glszm", "gldm", "ngtdm"]
MARGIN = 3


def crop_lesion(shared):
    d = os.path.join(shared, "data/ct/pyradiomics_lung")
    image = sitk.ReadImage(os.path.join(d, "lung1_image.nrrd"))
    mask = sitk.ReadImage(os.path.join(d, "lung1_label.nrrd"))
    a = sitk.GetArrayFromImage(mask) == 1
    zz, yy, xx = np.where(a)
    lo = [int(xx.min()) - MARGIN, int(yy.min()) - MARGIN, int(zz.min()) - MARGIN]
    hi = [int(xx.max()) + MARGIN, int(yy.max()) + MARGIN, int(zz.max()) + MARGIN]
    size = [h - l + 1 for l, h in zip(lo, hi)]
    img = sitk.RegionOfInterest(image, size, lo)
    msk = sitk.Cast(sitk.RegionOfInterest(mask, size, lo) == 1, sitk.sitkUInt8)
    img = sitk.Cast(img, sitk.sitkInt16)
    return img, msk


def extract(img, msk, radius, masked):
    settings = {
        "binWidth": 25,
        "label": 1,
        "kernelRadius": radius,
        "maskedKernel": masked,
        "initValue": np.nan,
        "voxelBatch": -1,
    }
    ex = featureextractor.RadiomicsFeatureExtractor(**settings)
    ex.disableAllFeatures()
    for c in CLASSES:
        ex.enableFeatureClassByName(c)
    t0 = time.perf_counter()
    out = ex.execute(img, msk, voxelBased=True)
    dt = time.perf_counter() - t0
    return {k: v for k, v in out.items() if isinstance(v, sitk.Image)}, dt


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--out", required=True)
    p.add_argument("--shared", default=os.environ.get("TOMOFUSE_SHARED", "/work/shared"))
    args = p.parse_args()
    setVerbosity(40)
    os.makedirs(args.out, exist_ok=True)
    img, msk = crop_lesion(args.shared)
    sitk.WriteImage(img, os.path.join(args.out, "lung1_crop_image.nii.gz"), True)
    sitk.WriteImage(msk, os.path.join(args.out, "lung1_crop_mask.nii.gz"), True)
    roi = sitk.GetArrayFromImage(msk) == 1
    names = None
    timing = {}
    for radius in (1, 2):
        for masked in (True, False):
            maps, dt = extract(img, msk, radius, masked)
            tag = f"r{radius}_{'masked' if masked else 'unmasked'}"
            timing[tag] = dt
            keys = sorted(maps)
            if names is None:
                names = keys
            assert keys == names, "same features in every configuration"
            cols = []
            for k in keys:
                m = maps[k]
                # The map is on PyRadiomics' crop (ROI bounding box + kernelRadius): place it on ours.
                off = img.TransformPhysicalPointToIndex(m.GetOrigin())
                full = np.full(roi.shape, np.nan)
                a = sitk.GetArrayFromImage(m)
                full[off[2]:off[2] + a.shape[0], off[1]:off[1] + a.shape[1], off[0]:off[0] + a.shape[2]] = a
                cols.append(full[roi])
            mat = np.stack(cols, axis=0).astype(np.float32)[None, :, :]  # (1, features, voxels)
            out = sitk.GetImageFromArray(mat)
            sitk.WriteImage(out, os.path.join(args.out, f"ref_{tag}.nii.gz"), True)
            print(f"{tag}: {len(keys)} maps, {roi.sum()} voxels, PyRadiomics {dt:.1f} s", flush=True)
    with open(os.path.join(args.out, "features.txt"), "w") as f:
        f.write("\n".join(n.replace("original_", "", 1) for n in names) + "\n")
    with open(os.path.join(args.out, "provenance.json"), "w") as f:
        json.dump(
            {
                "generator": "benches/python/voxel_reference.py",
                "pyradiomics": __import__("radiomics").__version__,
                "numpy": np.__version__,
                "source": "pyradiomics lung1 (TOMOFUSE_SHARED data/ct/pyradiomics_lung), label 1",
                "crop_margin_voxels": MARGIN,
                "settings": {"binWidth": 25, "voxelBatch": -1, "initValue": "nan"},
                "seconds": timing,
            },
            f,
            indent=1,
        )


if __name__ == "__main__":
    main()
