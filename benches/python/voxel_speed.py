"""Voxel maps: PyRadiomics 3.0.1 (`voxelBased=True`) vs tomofuse on the same lesion, same threads.

The lesion is the stored crop of the pyradiomics lung1 lesion (837 voxels,
crates/tomofuse-radiomics/tests/data/voxel). Both sides compute the same maps (all six classes
by default: 93 maps) with binWidth 25; PyRadiomics with voxelBatch -1 (all voxels at once, its
fastest setting), tomofuse through the release example `voxel_time` (median of --repeats).
PyRadiomics runs once per configuration (it takes seconds to minutes).

  cargo build --release -p tomofuse-radiomics --example voxel_time
  python benches/python/voxel_speed.py --bin $CARGO_TARGET_DIR/release/examples/voxel_time

Optional: --organ runs only tomofuse on the shared totalseg abdominal CT (liver, label 5) with
the GLCM maps (PyRadiomics is not run there: see benches/README.md).
"""

import argparse
import json
import os
import subprocess
import time

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "../../crates/tomofuse-radiomics/tests/data/voxel")


def pyradiomics_seconds(image, mask, radius, masked, classes):
    import numpy as np
    from radiomics import featureextractor, setVerbosity

    setVerbosity(40)
    ex = featureextractor.RadiomicsFeatureExtractor(
        binWidth=25, label=1, kernelRadius=radius, maskedKernel=masked, initValue=np.nan, voxelBatch=-1
    )
    ex.disableAllFeatures()
    for c in classes:
        ex.enableFeatureClassByName(c)
    t0 = time.perf_counter()
    out = ex.execute(image, mask, voxelBased=True)
    dt = time.perf_counter() - t0
    import SimpleITK as sitk

    return dt, sum(1 for v in out.values() if isinstance(v, sitk.Image))


def tomofuse(bin_, image, mask, label, radius, masked, features, repeats):
    out = subprocess.run(
        [bin_, image, mask, str(label), str(radius), "true" if masked else "false", features, str(repeats)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--bin", required=True, help="release build of the voxel_time example")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--radius", type=int, nargs="+", default=[1, 2])
    p.add_argument("--classes", default="firstorder,glcm,glrlm,glszm,gldm,ngtdm")
    p.add_argument("--organ", action="store_true")
    p.add_argument("--shared", default=os.environ.get("TOMOFUSE_SHARED", "/work/shared"))
    a = p.parse_args()
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "RAYON_NUM_THREADS"):
        os.environ[var] = str(a.threads)
    print(f"load average {os.getloadavg()}, {a.threads} threads", flush=True)
    if a.organ:
        ct = os.path.join(a.shared, "data/ct/totalseg_abdomen/example_ct.nii.gz")
        seg = os.path.join(a.shared, "data/ct/totalseg_abdomen/example_seg_fast_force_split.nii.gz")
        for r in a.radius:
            t = tomofuse(a.bin, ct, seg, 5, r, True, "glcm", 1)
            print(f"liver GLCM maps R={r}: {t['maps']} maps x {t['roi_voxels']} voxels, tomofuse {t['seconds']:.2f} s, "
                  f"peak RSS {t['peak_rss_mb']:.0f} MB, {t['threads']} threads", flush=True)
        return
    import SimpleITK as sitk

    img_path = os.path.join(DATA, "lung1_crop_image.nii.gz")
    msk_path = os.path.join(DATA, "lung1_crop_mask.nii.gz")
    image, mask = sitk.ReadImage(img_path), sitk.ReadImage(msk_path)
    classes = a.classes.split(",")
    print("| R | maskedKernel | maps | PyRadiomics s | tomofuse s | tomofuse / PyRadiomics |")
    print("|---|---|---|---|---|---|")
    for r in a.radius:
        for masked in (True, False):
            py, nmaps = pyradiomics_seconds(image, mask, r, masked, classes)
            t = tomofuse(a.bin, img_path, msk_path, 1, r, masked, a.classes, a.repeats)
            assert t["maps"] == nmaps, f"map counts differ: tomofuse {t['maps']}, PyRadiomics {nmaps}"
            print(f"| {r} | {masked} | {nmaps} | {py:.2f} | {t['seconds']:.4f} | {t['seconds'] / py:.4f} |", flush=True)
    print(f"load average {os.getloadavg()}")


if __name__ == "__main__":
    main()
