#!/usr/bin/env python3
"""Re-runs the installed PyRadiomics (3.0.1) on the baseline cases and compares it with the
baseline CSVs at 1e-4 relative: shows which baseline values PyRadiomics 3.0.1 itself still
reproduces (the brain1 mesh values of the 2018 baseline are not among them).

Run from the workspace root: python3 benches/python/radiomics_pyrad_baseline.py [--shared ../shared]
Install as in .ci/requirements-rad.txt (PyRadiomics 3.0.1 with --no-build-isolation).
"""
import argparse
import csv
import logging
import os

import radiomics
from radiomics import featureextractor

CLASSES = ["shape", "firstorder", "glcm", "glrlm", "glszm", "gldm", "ngtdm"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", default=os.environ.get("TOMOFUSE_SHARED", "../shared"))
    a = ap.parse_args()
    logging.getLogger("radiomics").setLevel(logging.ERROR)
    sets = [
        (os.path.join(a.shared, "data/ct/pyradiomics_lung"), ".", ["lung1", "lung2"]),
        (os.path.join(a.shared, "reference/pyradiomics"), "images", ["brain1", "brain2", "breast1"]),
    ]
    for root, images, cases in sets:
        for case in cases:
            ext = featureextractor.RadiomicsFeatureExtractor(
                binWidth=25, label=1, voxelArrayShift=2000, distances=[1], padDistance=5)
            ext.disableAllFeatures()
            for c in CLASSES:
                ext.enableFeatureClassByName(c)
            res = ext.execute(os.path.join(root, images, f"{case}_image.nrrd"),
                              os.path.join(root, images, f"{case}_label.nrrd"))
            n = bad = 0
            for c in CLASSES:
                rows = list(csv.reader(open(os.path.join(root, "baseline", f"baseline_{c}.csv"))))
                col = rows[0].index(case)
                for row in rows[1:]:
                    if row[0].startswith("diagnostics"):
                        continue
                    want, got = float(row[col]), float(res[row[0]])
                    rel = abs(got - want) / max(abs(want), 1e-300)
                    n += 1
                    if rel > 1e-4:
                        bad += 1
                        print(f"  {case} {row[0]}: PyRadiomics {radiomics.__version__} {got!r} "
                              f"vs baseline {want!r} (rel {rel:.2e})")
            print(f"{case}: PyRadiomics {radiomics.__version__} reproduces {n - bad}/{n} baseline values")


if __name__ == "__main__":
    main()
