#!/usr/bin/env python3
"""Speed of tomofuse-radiomics vs PyRadiomics 3.0.1 on the IBSI CT phantom, configuration A.

Both sides: no interpolation, resegmentation [-500, 400] HU, fixed bin size 25 HU, 2D texture.
PyRadiomics computes firstorder, shape, glcm, glrlm, glszm, gldm and ngtdm; tomofuse computes
every IBSI family of preset `ibsi-a` (a superset: also 2.5D aggregations, GLDZM, NGLDM,
local intensity, IVH, Moran's I / Geary's C). Prints both median times and the ratio.

Both sides time extraction only (inputs already in memory), median of --repeats runs in one
process; PyRadiomics with its defaults otherwise (no image filters: original image only).
tomofuse runs the release build of examples/radiomics_time.rs (rayon, all cores);
RADIOMICS_NO_MORAN=1 gives the run without Moran's I / Geary's C (PyRadiomics has neither).

Install (PyRadiomics 3.0.1 needs numpy<2, so use a separate venv):
  python3 -m venv /work/venv-pyrad && /work/venv-pyrad/bin/pip install "numpy<2" SimpleITK \
    pywavelets pykwalify six setuptools wheel && \
  /work/venv-pyrad/bin/pip install --no-build-isolation pyradiomics==3.0.1
Run from the workspace root: /work/venv-pyrad/bin/python benches/python/radiomics_speed.py [--repeats 5]
"""
import argparse
import logging
import os
import statistics
import subprocess
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--shared", default=os.environ.get("TOMOFUSE_SHARED", "../shared"))
    a = ap.parse_args()
    img = os.path.join(a.shared, "reference/ibsi/ct_phantom/nifti/image.nii.gz")
    msk = os.path.join(a.shared, "reference/ibsi/ct_phantom/nifti/mask.nii.gz")

    import SimpleITK as sitk
    import radiomics
    from radiomics import featureextractor

    logging.getLogger("radiomics").setLevel(logging.ERROR)
    settings = {
        "binWidth": 25,
        "resegmentRange": [-500, 400],
        "force2D": True,
        "force2Ddimension": 0,
        "label": 1,
        "interpolator": None,
        "resampledPixelSpacing": None,
    }
    ext = featureextractor.RadiomicsFeatureExtractor(**settings)
    ext.disableAllFeatures()
    for c in ["firstorder", "shape", "glcm", "glrlm", "glszm", "gldm", "ngtdm"]:
        ext.enableFeatureClassByName(c)
    image = sitk.Cast(sitk.Round(sitk.ReadImage(img)), sitk.sitkFloat32)
    mask = sitk.ReadImage(msk)
    py_times = []
    n_py = 0
    for _ in range(a.repeats):
        t = time.perf_counter()
        res = ext.execute(image, mask)
        py_times.append(time.perf_counter() - t)
        n_py = sum(1 for k in res if not k.startswith("diagnostics"))
    py = statistics.median(py_times)

    env = dict(os.environ, CARGO_TARGET_DIR=os.environ.get("CARGO_TARGET_DIR", "target"))
    subprocess.run(
        ["cargo", "build", "-q", "--release", "-p", "tomofuse-radiomics", "--example", "radiomics_time"],
        check=True, env=env)
    exe = os.path.join(env["CARGO_TARGET_DIR"], "release", "examples", "radiomics_time")
    def run(extra_env, preset="ibsi-a"):
        out = subprocess.run([exe, img, msk, preset, str(a.repeats)], check=True, capture_output=True,
                             text=True, env=dict(env, **extra_env)).stdout.split()
        return int(out[1]), float(out[3])

    n_rs, rs = run({})
    n_nm, nm = run({"RADIOMICS_NO_MORAN": "1"})
    print(f"PyRadiomics {radiomics.__version__}: {n_py} features, median {py:.3f} s")
    print(f"tomofuse-radiomics ibsi-a, all families: {n_rs} features, median {rs:.3f} s, ratio {rs / py:.4f}")
    print(f"tomofuse-radiomics ibsi-a without Moran/Geary (PyRadiomics has neither): {n_nm} features, "
          f"median {nm:.3f} s, ratio {nm / py:.4f}")
    print(f"ratio tomofuse/PyRadiomics, all families = {rs / py:.4f}; without Moran/Geary = {nm / py:.4f} "
          f"(target <= 0.05); load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")

    # Like for like: PyRadiomics' default 3D features vs tomofuse's PyRadiomics-compatibility
    # mode (same 107 features, same definitions), both with resegmentation [-500, 400].
    ext3 = featureextractor.RadiomicsFeatureExtractor(
        binWidth=25, resegmentRange=[-500, 400], label=1, interpolator=None, resampledPixelSpacing=None)
    ext3.disableAllFeatures()
    for c in ["firstorder", "shape", "glcm", "glrlm", "glszm", "gldm", "ngtdm"]:
        ext3.enableFeatureClassByName(c)
    t3 = []
    for _ in range(a.repeats):
        t = time.perf_counter()
        res3 = ext3.execute(image, mask)
        t3.append(time.perf_counter() - t)
    py3 = statistics.median(t3)
    n_py3 = sum(1 for k in res3 if not k.startswith("diagnostics"))
    n_c, rc = run({"RADIOMICS_RESEG_RANGE": "-500,400"}, "pyradiomics-default")
    print(f"PyRadiomics 3D defaults: {n_py3} features, median {py3:.3f} s; tomofuse compat=pyradiomics: "
          f"{n_c} features, median {rc:.3f} s, ratio {rc / py3:.4f}")

if __name__ == "__main__":
    sys.exit(main())
