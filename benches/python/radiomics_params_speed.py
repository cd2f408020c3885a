#!/usr/bin/env python3
"""Speed of a PyRadiomics parameter file (Original + LoG sigma 1, 2, 3 mm + Wavelet coif1,
binWidth 25, the seven default classes) on shared CT regions: PyRadiomics 3.0.1 vs the tomofuse
release build (examples/radiomics_params_time.rs, the same YAML file read by
`settings::pyradiomics_params`), side by side in one run, plus the timing of the IBSI-2
phase-2 set (examples/ibsi2_phase2_time.rs: the 18 filter ids with reference values on the
IBSI CT phantom, tomofuse only: PyRadiomics has none of these filters).

Each side runs in its own process per region (PyRadiomics: this script with --worker), with
the same thread count (OMP/OPENBLAS/MKL/RAYON_NUM_THREADS), times extraction only (inputs
read once), median of --repeats runs, and reports its peak RSS (the process' ru_maxrss, so it
includes the interpreter and libraries on the Python side) and the median CPU time of all its
threads per extraction (Python: time.process_time; tomofuse: /proc/self/task/*/schedstat),
which other processes' load changes much less than the wall time. The load average is printed:
the ratio moves with machine load.

Regions (all on the shared TotalSegmentator abdomen CT `example_ct_sm.nii.gz`, 122x101x30,
3 mm):
  pancreas: `example_seg_fast_pancreas.nii.gz` label 1 (548 voxels)
  liver:    `example_seg.nii.gz` label 5 (the label map of example_ct_sm; 38 634 voxels)

  cargo build --release -p tomofuse-radiomics --example radiomics_params_time --example ibsi2_phase2_time
  /work/venv-rad/bin/python benches/python/radiomics_params_speed.py --repeats 5
"""
import argparse
import json
import logging
import os
import resource
import statistics
import subprocess
import sys
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

CT = "data/ct/totalseg_abdomen/example_ct_sm.nii.gz"
REGIONS = {
    "pancreas": ("data/ct/totalseg_abdomen/example_seg_fast_pancreas.nii.gz", 1),
    "liver": ("data/ct/totalseg_abdomen/example_seg.nii.gz", 5),
}


def peak_rss_mb():
    # Linux: ru_maxrss in kB.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def worker(params, img, msk, repeats):
    """PyRadiomics on one region: prints JSON (features, median seconds, peak RSS)."""
    import SimpleITK as sitk
    import radiomics
    from radiomics import featureextractor

    radiomics.setVerbosity(logging.ERROR)
    image, mask = sitk.ReadImage(img), sitk.ReadImage(msk)
    ext = featureextractor.RadiomicsFeatureExtractor(params)
    times, cpu, n = [], [], 0
    for _ in range(repeats):
        c = time.process_time()
        t = time.perf_counter()
        res = ext.execute(image, mask)
        times.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
        n = sum(1 for k in res if not k.startswith("diagnostics_"))
    print(json.dumps({"features": n, "median_s": statistics.median(times), "peak_rss_mb": peak_rss_mb(),
                      "cpu_median_s": statistics.median(cpu),
                      "version": radiomics.__version__}))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--shared", default=os.environ.get("TOMOFUSE_SHARED", "../shared"))
    ap.add_argument("--regions", nargs="+", default=list(REGIONS), choices=list(REGIONS))
    target = os.environ.get("CARGO_TARGET_DIR", "target")
    ap.add_argument("--bin", default=os.path.join(target, "release/examples/radiomics_params_time"))
    ap.add_argument("--ibsi2-bin", default=os.path.join(target, "release/examples/ibsi2_phase2_time"))
    ap.add_argument("--no-ibsi2", action="store_true", help="skip the IBSI-2 phase-2 timing")
    ap.add_argument("--worker", nargs=3, metavar=("PARAMS", "IMAGE", "MASK"), help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker:
        worker(*a.worker, a.repeats)
        return

    env = dict(os.environ)
    for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "RAYON_NUM_THREADS"):
        env[k] = str(a.threads)
    img = os.path.join(a.shared, CT)
    print("load average at start: %.1f %.1f %.1f; %d threads each side; median of %d" % (
        os.getloadavg() + (a.threads, a.repeats)))
    rows = []
    for region in a.regions:
        mask_rel, label = REGIONS[region]
        msk = os.path.join(a.shared, mask_rel)
        with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
            f.write(PARAMS.replace("LABEL", str(label)))
            params = f.name
        try:
            py = json.loads(subprocess.run(
                [sys.executable, __file__, "--repeats", str(a.repeats), "--worker", params, img, msk],
                check=True, capture_output=True, text=True, env=env).stdout.strip().splitlines()[-1])
            out = subprocess.run([a.bin, params, img, msk, str(a.repeats)], check=True,
                                 capture_output=True, text=True, env=env).stdout.split()
            tf = {"features": int(out[1]), "median_s": float(out[3]), "peak_rss_mb": float(out[5]),
                  "cpu_median_s": float(out[7])}
        finally:
            os.unlink(params)
        rows.append((region, label, py, tf))

    print("PyRadiomics %s vs tomofuse (release), CT %s" % (rows[0][2]["version"] if rows else "?", CT))
    print("| region | label | features (py / tf) | PyRadiomics s | tomofuse s | ratio tf/py (wall) "
          "| PyRadiomics CPU s | tomofuse CPU s | ratio tf/py (CPU) | peak RSS py MB | peak RSS tf MB |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for region, label, py, tf in rows:
        print("| %s | %d | %d / %d | %.3f | %.4f | %.3f | %.3f | %.4f | %.3f | %.0f | %.0f |" % (
            region, label, py["features"], tf["features"], py["median_s"], tf["median_s"],
            tf["median_s"] / py["median_s"], py["cpu_median_s"], tf["cpu_median_s"],
            tf["cpu_median_s"] / py["cpu_median_s"], py["peak_rss_mb"], tf["peak_rss_mb"]))

    if not a.no_ibsi2:
        out = subprocess.run([a.ibsi2_bin, a.shared, "1"], check=True, capture_output=True, text=True,
                             env=env).stdout
        r = json.loads(out)
        print("IBSI-2 phase 2 (tomofuse, %d threads): 18 filter ids, %d/%d values within tolerance, "
              "extraction %.2f s (A %.2f s, B %.2f s), peak RSS %.0f MB" % (
                  r["threads"], r["within_tolerance"], r["values"], r["extract_total_s"],
                  r["configs"][0]["extract_s"], r["configs"][1]["extract_s"], r["peak_rss_mb"]))
        for c in r["configs"]:
            print("  config %s: pre-processing %.2f s, extraction %.2f s, extraction peak RSS %.0f MB" % (
                c["config"], c["preprocess_s"], c["extract_s"], c["extract_peak_rss_mb"]))
        for f in r["filters"]:
            print("  %-5s %-60s filter alone %.3f s" % (f["id"], f["image_type"], f["filter_s"]))
    print("load average at end: %.1f %.1f %.1f" % os.getloadavg())


if __name__ == "__main__":
    main()
