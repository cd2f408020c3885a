#!/usr/bin/env python3
"""Speed of a PyRadiomics parameter file (Original + LoG sigma 1, 2, 3 mm + Wavelet coif1,
binWidth 25, the seven default classes) on a shared CT region: PyRadiomics 3.0.1 vs the
tomofuse release build (examples/radiomics_params_time.rs, the same YAML file read by
`settings::pyradiomics_params`). Both sides time extraction only, median of --repeats runs in
one process, and the script prints both times, the ratio and the load average.

Default region: the pancreas of the shared TotalSegmentator abdomen example
(`data/ct/totalseg_abdomen/example_ct_sm.nii.gz`, label file `example_seg_fast_pancreas.nii.gz`).

  cargo build --release -p tomofuse-radiomics --example radiomics_params_time
  /work/venv-rad/bin/python benches/python/radiomics_params_speed.py --repeats 3
"""
import argparse
import logging
import os
import statistics
import subprocess
import tempfile
import time

PARAMS = """imageType:
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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--shared", default=os.environ.get("TOMOFUSE_SHARED", "../shared"))
    ap.add_argument("--image", default="data/ct/totalseg_abdomen/example_ct_sm.nii.gz")
    ap.add_argument("--mask", default="data/ct/totalseg_abdomen/example_seg_fast_pancreas.nii.gz")
    ap.add_argument("--label", type=int, default=None, help="default: the mask's smallest non-zero label")
    ap.add_argument("--bin", default=os.path.join(os.environ.get("CARGO_TARGET_DIR", "target"), "release/examples/radiomics_params_time"))
    a = ap.parse_args()
    img = os.path.join(a.shared, a.image)
    msk = os.path.join(a.shared, a.mask)

    import numpy as np
    import SimpleITK as sitk
    import radiomics
    from radiomics import featureextractor

    radiomics.setVerbosity(logging.ERROR)
    image, mask = sitk.ReadImage(img), sitk.ReadImage(msk)
    labels = np.unique(sitk.GetArrayFromImage(mask))
    label = a.label if a.label is not None else int(labels[labels > 0].min())
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        f.write(PARAMS.replace("LABEL", str(label)))
        params = f.name
    ext = featureextractor.RadiomicsFeatureExtractor(params)
    times, n_py = [], 0
    for _ in range(a.repeats):
        t = time.perf_counter()
        res = ext.execute(image, mask)
        times.append(time.perf_counter() - t)
        n_py = sum(1 for k in res if not k.startswith("diagnostics_"))
    py = statistics.median(times)

    out = subprocess.run([a.bin, params, img, msk, str(a.repeats)], check=True, capture_output=True, text=True).stdout.split()
    n_tf, tf = int(out[1]), float(out[3])
    os.unlink(params)
    print("region: %s label %d (%d voxels)" % (a.mask, label, int((sitk.GetArrayFromImage(mask) == label).sum())))
    print("load average: %.1f %.1f %.1f" % os.getloadavg())
    print("PyRadiomics %s: %d features, median %.3f s" % (radiomics.__version__, n_py, py))
    print("tomofuse (release): %d features, median %.3f s" % (n_tf, tf))
    print("ratio tomofuse / PyRadiomics: %.3f" % (tf / py))


if __name__ == "__main__":
    main()
