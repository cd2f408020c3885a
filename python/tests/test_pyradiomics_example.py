"""`pyradiomics_example.py` (a PyRadiomics 3.0.1 script) runs unchanged but for its import
line on tomofuse, and gives PyRadiomics' values for every key within 1e-4 relative.

The PyRadiomics side is PyRadiomics itself when it can be imported, by this interpreter or by
the one TOMOFUSE_PYRADIOMICS_PYTHON names (e.g. /work/venv-rad/bin/python); otherwise the
stored PyRadiomics 3.0.1 output of the same configuration
(crates/tomofuse-radiomics/tests/data/pyradiomics_params_filters.csv.gz, lung1, written by
benches/python/radiomics_pyrad_params.py). Which one was used is printed."""

import gzip
import json
import math
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
STORED = REPO / "crates/tomofuse-radiomics/tests/data/pyradiomics_params_filters.csv.gz"
IMPORT_PYRADIOMICS = "from radiomics import featureextractor\n"
IMPORT_TOMOFUSE = "from tomofuse.radiomics import featureextractor\n"


def pyradiomics_python():
    for py in [sys.executable, os.environ.get("TOMOFUSE_PYRADIOMICS_PYTHON")]:
        if py and subprocess.run([py, "-c", "import radiomics"], capture_output=True).returncode == 0:
            return py
    return None


def run(py, script, image, mask, out):
    subprocess.run([py, str(script), image, mask, "--json", str(out)], check=True, capture_output=True, text=True)
    return json.loads(out.read_text())


def stored_lung1():
    with gzip.open(STORED, "rt") as f:
        rows = [line.rstrip("\n").split(",") for line in f if not line.startswith("#")]
    return {k: float(v) for case, k, v in rows[1:] if case == "lung1"}


def test_example_script_runs_on_tomofuse_with_the_import_line_changed(tmp_path, lung):
    text = (HERE / "pyradiomics_example.py").read_text()
    assert text.count(IMPORT_PYRADIOMICS) == 1
    ours_script = tmp_path / "example_tomofuse.py"
    ours_script.write_text(text.replace(IMPORT_PYRADIOMICS, IMPORT_TOMOFUSE))
    image, mask = str(lung / "lung1_image.nrrd"), str(lung / "lung1_label.nrrd")
    ours = run(sys.executable, ours_script, image, mask, tmp_path / "ours.json")

    py = pyradiomics_python()
    if py is not None:
        theirs = run(py, HERE / "pyradiomics_example.py", image, mask, tmp_path / "theirs.json")
        source = f"PyRadiomics run by {py}"
    else:
        theirs = stored_lung1()
        source = f"stored PyRadiomics 3.0.1 values {STORED.name}"
    shared = sorted(set(ours) & set(theirs))
    bad = []
    for k in shared:
        a, b = ours[k], theirs[k]
        if math.isnan(a) or math.isnan(b):
            if math.isnan(a) != math.isnan(b):
                bad.append((k, a, b))
        elif not (abs(a - b) <= 1e-4 * abs(b) or (b == 0 and abs(a) < 1e-12)):
            bad.append((k, a, b))
    print(f"pyradiomics_example.py: {len(shared)} shared keys ({len(ours)} tomofuse, {len(theirs)} reference) "
          f"against {source}; {len(bad)} differ")
    # The full feature set: Original + LoG (2 sigmas) + 8 wavelet bands + 5 filters, 7 classes.
    assert set(ours) == set(theirs)
    assert len(shared) == 1502
    assert not bad, bad[:20]
    # PyRadiomics' key order too (a script that writes rows or columns in dict order); the
    # stored values come from the parameter file, whose class order differs from the
    # script's, so their order is checked by the next test.
    if py is not None:
        assert [k for k in ours if k in theirs] == [k for k in theirs if k in ours]


def test_keys_come_in_pyradiomics_order(lung):
    """The stored PyRadiomics 3.0.1 output lists lung1's keys in PyRadiomics' own order for
    the parameter file it was made with; the extractor on the same file gives that order."""
    from tomofuse.radiomics import featureextractor

    ext = featureextractor.RadiomicsFeatureExtractor(str(STORED.with_name("pyradiomics_params_filters.yaml")))
    ext.settings["additionalInfo"] = False
    ours = ext.execute(str(lung / "lung1_image.nrrd"), str(lung / "lung1_label.nrrd"))
    with gzip.open(STORED, "rt") as f:
        rows = [line.rstrip("\n").split(",") for line in f if not line.startswith("#")]
    theirs = [k for case, k, _ in rows[1:] if case == "lung1"]
    assert list(ours) == theirs
