"""Reference values for tests/pyradiomics_image_types.rs: PyRadiomics 3.0.1 run with the
parameter file crates/tomofuse-radiomics/tests/data/pyradiomics_params_filters.yaml on the
shared PyRadiomics cases (lung1, lung2, brain1, brain2, breast1). Writes
crates/tomofuse-radiomics/tests/data/pyradiomics_params_filters.csv.gz with rows
`case,key,value` (every non-diagnostic key, full precision). The Rust test reads only this file.

    python3 -m venv /work/venv-rad && . /work/venv-rad/bin/activate
    pip install -r .ci/requirements-rad.txt && pip install --no-build-isolation pyradiomics==3.0.1
    python benches/python/radiomics_pyrad_params.py [--shared ../shared]
"""
import argparse
import gzip
import logging
import os

import radiomics
from radiomics import featureextractor

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
DATA = os.path.join(ROOT, "crates", "tomofuse-radiomics", "tests", "data")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", default=os.environ.get("TOMOFUSE_SHARED", os.path.join(ROOT, "..", "shared")))
    args = ap.parse_args()
    radiomics.setVerbosity(logging.ERROR)
    params = os.path.join(DATA, "pyradiomics_params_filters.yaml")
    ext = featureextractor.RadiomicsFeatureExtractor(params)
    cases = [
        ("lung1", os.path.join(args.shared, "data/ct/pyradiomics_lung")),
        ("lung2", os.path.join(args.shared, "data/ct/pyradiomics_lung")),
        ("brain1", os.path.join(args.shared, "reference/pyradiomics/images")),
        ("brain2", os.path.join(args.shared, "reference/pyradiomics/images")),
        ("breast1", os.path.join(args.shared, "reference/pyradiomics/images")),
    ]
    out = os.path.join(DATA, "pyradiomics_params_filters.csv.gz")
    with gzip.open(out, "wt", compresslevel=9) as f:
        f.write("# PyRadiomics %s, %s\n" % (radiomics.__version__, os.path.basename(params)))
        f.write("case,key,value\n")
        for case, folder in cases:
            res = ext.execute(os.path.join(folder, case + "_image.nrrd"), os.path.join(folder, case + "_label.nrrd"))
            n = 0
            for k, v in res.items():
                if k.startswith("diagnostics_"):
                    continue
                f.write("%s,%s,%r\n" % (case, k, float(v)))
                n += 1
            print(case, n, "values")
    print("wrote", out)


if __name__ == "__main__":
    main()
