#!/usr/bin/env python3
"""tomofuse's Python extractor vs PyRadiomics 3.0.1's, side by side in one Python process, and
the Python call vs the `tomofuse radiomics` CLI on the same work.

Cases (both extractors get the same SimpleITK images in memory, or the same files):
  A. IBSI CT phantom, configuration A as PyRadiomics runs it (benches/python/radiomics_speed.py):
     binWidth 25, resegmentRange [-500, 400], force2D, the seven default classes, Original.
  B. The shared pancreas (totalseg_abdomen example_ct_sm + example_seg_fast_pancreas, as in
     radiomics_params_speed.py): Original + LoG (1, 2, 3 mm) + Wavelet, seven classes, binWidth 25.
Both sides run with 2 threads (RAYON/OMP/OPENBLAS/MKL_NUM_THREADS=2 set before any import),
median of --repeats runs after one warm-up.

Overhead: `tomofuse radiomics --params P --image I --mask M --out X` as a subprocess (process
start, reading, extraction, CSV) against `RadiomicsFeatureExtractor(P).execute(I, M)` from the
same file paths in this process (reading, extraction, diagnostics), same build profile, same
threads. overhead = python / cli - 1 (the issue's target: <= 5%).

Needs PyRadiomics and the tomofuse wheel in one venv, e.g.
  /work/venv-rad/bin/pip install ./python
  /work/venv-rad/bin/python benches/python/pyradiomics_extractor_speed.py --cli $CARGO_TARGET_DIR/debug/tomofuse
"""
import os

for _v in ("RAYON_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_v] = "2"

import argparse  # noqa: E402
import logging  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

PANCREAS_PARAMS = """imageType:
  Original: {}
  LoG: {sigma: [1.0, 2.0, 3.0]}
  Wavelet: {}
featureClass:
  shape:
  firstorder:
  glcm:
  glrlm:
  glszm:
  gldm:
  ngtdm:
setting:
  binWidth: 25
  label: LABEL
"""

IBSI_A_PARAMS = """imageType:
  Original: {}
featureClass:
  shape:
  firstorder:
  glcm:
  glrlm:
  glszm:
  gldm:
  ngtdm:
setting:
  binWidth: 25
  resegmentRange: [-500, 400]
  force2D: true
  force2Ddimension: 0
  label: 1
"""


def median_time(fn, repeats):
    fn()  # warm-up (page cache, lazy init)
    times = []
    out = None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def n_features(res):
    return sum(1 for k in res if not k.startswith("diagnostics_"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--shared", default=os.environ.get("TOMOFUSE_SHARED", "../shared"))
    ap.add_argument("--cli", default=os.path.join(os.environ.get("CARGO_TARGET_DIR", "target"), "debug/tomofuse"))
    a = ap.parse_args()

    import numpy as np
    import SimpleITK as sitk
    import radiomics
    from radiomics import featureextractor as pyrad

    import tomofuse
    from tomofuse.radiomics import featureextractor as tf

    radiomics.setVerbosity(logging.ERROR)
    tmp = tempfile.mkdtemp()
    phantom = os.path.join(a.shared, "reference/ibsi/ct_phantom/nifti")
    pancreas_img = os.path.join(a.shared, "data/ct/totalseg_abdomen/example_ct_sm.nii.gz")
    pancreas_msk = os.path.join(a.shared, "data/ct/totalseg_abdomen/example_seg_fast_pancreas.nii.gz")
    labels = np.unique(sitk.GetArrayFromImage(sitk.ReadImage(pancreas_msk)))
    label = int(labels[labels > 0].min())

    # The phantom is stored in float with non-integer HU: PyRadiomics' benchmark rounds it
    # (radiomics_speed.py); the rounded image is written once so the file route sees it too.
    img_a = sitk.Cast(sitk.Round(sitk.ReadImage(os.path.join(phantom, "image.nii.gz"))), sitk.sitkFloat32)
    phantom_img = os.path.join(tmp, "phantom_rounded.nii.gz")
    sitk.WriteImage(img_a, phantom_img)
    cases = [
        ("A: IBSI CT phantom, config A", IBSI_A_PARAMS, phantom_img, os.path.join(phantom, "mask.nii.gz")),
        ("B: pancreas, Original+LoG+Wavelet", PANCREAS_PARAMS.replace("LABEL", str(label)), pancreas_img,
         pancreas_msk),
    ]
    print(f"tomofuse {tomofuse.__version__}, PyRadiomics {radiomics.__version__}, repeats {a.repeats}, "
          f"2 threads each; load average before: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} "
          f"{os.getloadavg()[2]:.2f} on {os.cpu_count()} CPUs")
    for name, params_text, img_path, msk_path in cases:
        params = os.path.join(tmp, "params.yaml")
        with open(params, "w") as f:
            f.write(params_text)
        image, mask = sitk.ReadImage(img_path), sitk.ReadImage(msk_path)
        e_py = pyrad.RadiomicsFeatureExtractor(params)
        e_tf = tf.RadiomicsFeatureExtractor(params)
        t_py, r_py = median_time(lambda: e_py.execute(image, mask), a.repeats)
        t_tf, r_tf = median_time(lambda: e_tf.execute(image, mask), a.repeats)
        shared = [k for k in r_py if not k.startswith("diagnostics_") and k in r_tf]
        worst = max(abs(float(r_tf[k]) - float(r_py[k])) / max(abs(float(r_py[k])), 1e-12) for k in shared)
        print(f"{name}: PyRadiomics {n_features(r_py)} features {t_py:.3f} s; tomofuse {n_features(r_tf)} "
              f"features {t_tf:.3f} s; ratio tomofuse/PyRadiomics {t_tf / t_py:.4f} (SimpleITK images in memory; "
              f"{len(shared)} shared keys, worst relative difference {worst:.1e})")

        # Python call vs CLI, same files and params.
        if not os.path.exists(a.cli):
            print(f"{name}: no CLI binary at {a.cli}: overhead not measured")
            continue
        out_csv = os.path.join(tmp, "f.csv")
        cmd = [a.cli, "radiomics", "--image", img_path, "--mask", msk_path, "--params", params, "--out", out_csv]
        t_cli, _ = median_time(lambda: subprocess.run(cmd, check=True, capture_output=True), a.repeats)
        t_file, _ = median_time(lambda: e_tf.execute(img_path, msk_path), a.repeats)
        e_tf.addProvenance(False)
        t_nodiag, _ = median_time(lambda: e_tf.execute(img_path, msk_path), a.repeats)
        print(f"{name}: CLI subprocess {t_cli:.3f} s; Python execute(paths) {t_file:.3f} s "
              f"(overhead {100 * (t_file / t_cli - 1):+.1f}%); without diagnostics {t_nodiag:.3f} s "
              f"(overhead {100 * (t_nodiag / t_cli - 1):+.1f}%)")
    print(f"load average after: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")


if __name__ == "__main__":
    main()
