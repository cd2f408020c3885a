"""PyRadiomics' extractor API (params dict or file, keyword settings, enable*/disable*,
SimpleITK inputs, diagnostics) against independent references: PyRadiomics' own baseline
CSVs of the lung cases (feature names, values and diagnostics), the CLI's output for the
same parameter file, and the crate's parser errors."""

import csv
import math
import os
import subprocess
from collections import OrderedDict

import numpy as np
import pytest

import tomofuse
from tomofuse.radiomics import featureextractor

from test_radiomics import find_cli

CLASSES = ["shape", "firstorder", "glcm", "glrlm", "glszm", "gldm", "ngtdm"]


def baseline(lung, case="lung1"):
    """PyRadiomics' baseline of one case: (features, diagnostics), every class. Diagnostics
    of the original image/mask come from the first of the case's columns that has them
    (older PyRadiomics wrote fewer)."""
    feats, diag = OrderedDict(), {}
    for cls in CLASSES:
        with open(lung / f"baseline/baseline_{cls}.csv", newline="") as f:
            rows = list(csv.reader(f))
        hdr = rows[0]
        cols = [i for i, h in enumerate(hdr) if h == case or h.startswith(case + "_")]
        for r in rows[1:]:
            if r[0].startswith("diagnostics_"):
                vals = [r[i] for i in cols if r[i] != ""]
                if vals:
                    diag.setdefault(r[0], vals[0])
            else:
                feats[r[0]] = float(r[hdr.index(case)])
    return feats, diag


def close(a, b, rel=1e-4):
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return abs(a - b) <= rel * max(abs(b), 1e-300) or (b == 0 and abs(a) < 1e-12)


@pytest.fixture(scope="module")
def lung1(lung):
    return str(lung / "lung1_image.nrrd"), str(lung / "lung1_label.nrrd")


def features_only(d):
    return OrderedDict((k, v) for k, v in d.items() if not k.startswith("diagnostics_"))


def test_default_extractor_is_pyradiomics_default_feature_set(lung, lung1):
    """No params: Original image, every class but shape2D, as PyRadiomics; the keys are
    exactly the baseline's (107) and the values within 1e-4."""
    ref, _ = baseline(lung)
    ext = featureextractor.RadiomicsFeatureExtractor(binWidth=25, voxelArrayShift=2000)
    assert ext.enabledImagetypes == {"Original": {}}
    assert set(ext.enabledFeatures) == {"firstorder", "glcm", "gldm", "glrlm", "glszm", "ngtdm", "shape"}
    got = features_only(ext.execute(*lung1))
    assert set(got) == set(ref) and len(ref) == 107
    bad = [(k, got[k], v) for k, v in ref.items() if not close(got[k], v)]
    assert not bad, bad


def test_params_dict_equals_params_file(tmp_path, lung1):
    doc = {
        "imageType": {"Original": {}, "LoG": {"sigma": [2.0]}},
        "featureClass": {"firstorder": None, "glcm": ["Contrast", "JointEntropy"]},
        "setting": {"binWidth": 25, "label": 1},
    }
    p = tmp_path / "p.yaml"
    p.write_text(
        "imageType:\n  Original: {}\n  LoG: {sigma: [2.0]}\n"
        "featureClass:\n  firstorder:\n  glcm: [Contrast, JointEntropy]\n"
        "setting:\n  binWidth: 25\n  label: 1\n"
    )
    a = features_only(featureextractor.RadiomicsFeatureExtractor(doc).execute(*lung1))
    b = features_only(featureextractor.RadiomicsFeatureExtractor(str(p)).execute(*lung1))
    assert list(a) == list(b) and a == b
    assert {k for k in a if "_glcm_" in k} == {
        "original_glcm_Contrast", "original_glcm_JointEntropy",
        "log-sigma-2-0-mm-3D_glcm_Contrast", "log-sigma-2-0-mm-3D_glcm_JointEntropy",
    }


def test_keywords_override_file_settings_as_pyradiomics(tmp_path, lung, lung1):
    """A keyword setting wins over the file's `setting` (PyRadiomics: settings.update(kwargs)):
    the file says binWidth 50, the keyword 25 = the baseline's."""
    ref, _ = baseline(lung)
    p = tmp_path / "p.yaml"
    p.write_text("featureClass:\n  glcm:\nsetting:\n  binWidth: 50\n")
    wide = features_only(featureextractor.RadiomicsFeatureExtractor(str(p)).execute(*lung1))
    ext = featureextractor.RadiomicsFeatureExtractor(str(p), binWidth=25)
    assert ext.settings["binWidth"] == 25
    got = features_only(ext.execute(*lung1))
    assert set(got) == {k for k in ref if "_glcm_" in k}
    assert all(close(got[k], ref[k]) for k in got)
    assert not close(wide["original_glcm_Contrast"], ref["original_glcm_Contrast"])
    # binCount wins over binWidth when both are given, as in PyRadiomics.
    a = featureextractor.RadiomicsFeatureExtractor(binCount=16, binWidth=25).execute(*lung1)
    b = featureextractor.RadiomicsFeatureExtractor(binCount=16).execute(*lung1)
    assert a["original_glcm_Contrast"] == b["original_glcm_Contrast"]


def test_enable_methods_follow_pyradiomics(lung, lung1):
    ref, _ = baseline(lung)
    ext = featureextractor.RadiomicsFeatureExtractor(binWidth=25)
    ext.disableAllFeatures()
    assert ext.enabledFeatures == {}
    ext.enableFeatureClassByName("glcm")
    ext.enableFeaturesByName(firstorder=["Mean", "Skewness"], glrlm=[])
    got = features_only(ext.execute(*lung1))
    want = {k for k in ref if "_glcm_" in k or "_glrlm_" in k} | {
        "original_firstorder_Mean", "original_firstorder_Skewness"}
    assert set(got) == want
    assert all(close(got[k], ref[k]) for k in got)
    ext.enableFeatureClassByName("glrlm", enabled=False)
    assert not any("_glrlm_" in k for k in ext.execute(*lung1))
    # enableAllFeatures also enables shape2D, which PyRadiomics computes only with force2D.
    ext.enableAllFeatures()
    assert "shape2D" in ext.enabledFeatures
    assert set(features_only(ext.execute(*lung1))) == set(ref)
    ext.enableImageTypeByName("Wavelet", customArgs={"wavelet": "haar"})
    ext.enableImageTypeByName("Original", enabled=False)
    ext.enableFeatureClassByName("shape", enabled=False)
    ext.enableFeatureClassByName("shape2D", enabled=False)
    keys = list(features_only(ext.execute(*lung1)))
    assert keys and all(k.startswith("wavelet-") for k in keys)
    assert "wavelet-HLL_glszm_ZoneEntropy" in keys
    ext.disableAllImageTypes()
    assert ext.enabledImagetypes == {}
    ext.enableAllImageTypes()
    assert list(ext.enabledImagetypes) == featureextractor.IMAGE_TYPES
    # LBP is an image type PyRadiomics has and tomofuse does not implement: an error.
    with pytest.raises(tomofuse.Error, match="LBP2D"):
        ext.execute(*lung1)


def test_unknown_and_unimplemented_options_raise(tmp_path, lung1):
    new = featureextractor.RadiomicsFeatureExtractor
    with pytest.raises(tomofuse.Error, match="binWidht"):
        new(binWidht=25)
    with pytest.raises(tomofuse.Error, match="binWidht"):
        new({"setting": {"binWidht": 25}})
    with pytest.raises(tomofuse.Error, match="Wavlet"):
        new({"imageType": {"Wavlet": {}}})
    with pytest.raises(tomofuse.Error, match="featureClas"):
        new({"featureClas": {"glcm": None}})
    with pytest.raises(tomofuse.Error, match="Contrst"):
        new({"featureClass": {"glcm": ["Contrst"]}})
    with pytest.raises(tomofuse.Error, match="kernelRadios"):
        new({"voxelSetting": {"kernelRadios": 2}})
    with pytest.raises(tomofuse.Error, match="normalize"):
        new(normalize=True)
    with pytest.raises(tomofuse.Error, match="resampledPixelSpacing"):
        new(resampledPixelSpacing=[1, 1, 1])
    with pytest.raises(tomofuse.Error, match="binCount"):
        new(binCount=2.5)
    p = tmp_path / "bad.yaml"
    p.write_text("setting:\n  binWidth: -1\n")
    with pytest.raises(tomofuse.Error) as e:
        new(str(p))
    assert "bad.yaml" in str(e.value) and "binWidth" in str(e.value)
    with pytest.raises(IOError, match="does not exist"):
        new(str(tmp_path / "missing.yaml"))
    ext = new()
    with pytest.raises(tomofuse.Error, match="Gabor"):
        ext.enableImageTypeByName("Gabor")
    with pytest.raises(tomofuse.Error, match="glcx"):
        ext.enableFeatureClassByName("glcx")
    ext.enableFeatureClassByName("shape2D")
    ext.settings["force2D"] = True
    with pytest.raises(tomofuse.Error, match="shape2D"):
        ext.execute(*lung1)
    with pytest.raises(tomofuse.Error, match="label_channel"):
        new().execute(*lung1, label_channel=1)


def test_sitk_and_image_inputs_equal_paths(lung1):
    sitk = pytest.importorskip("SimpleITK")
    ext = featureextractor.RadiomicsFeatureExtractor(binWidth=25)
    ext.disableAllFeatures()
    ext.enableFeatureClassByName("glszm")
    ext.enableFeatureClassByName("shape")
    a = features_only(ext.execute(*lung1))
    b = features_only(ext.execute(sitk.ReadImage(lung1[0]), sitk.ReadImage(lung1[1])))
    c = features_only(ext.execute(tomofuse.read(lung1[0]), lung1[1]))
    assert list(a) == list(b) == list(c)
    for k in a:
        assert close(b[k], a[k], 1e-9) and close(c[k], a[k], 1e-9), k


def parse_tuple(s):
    return tuple(float(x) for x in s.strip("()").split(","))


@pytest.mark.parametrize("case", ["lung1", "lung2"])
def test_diagnostics_equal_pyradiomics_baseline(lung, case):
    """The diagnostics that describe image and ROI equal PyRadiomics' (its baseline CSV)."""
    _, ref = baseline(lung, case)
    ext = featureextractor.RadiomicsFeatureExtractor(binWidth=25)
    ext.disableAllFeatures()
    ext.enableFeatureClassByName("firstorder")
    got = ext.execute(str(lung / f"{case}_image.nrrd"), str(lung / f"{case}_label.nrrd"))
    keys = [k for k in got if k.startswith("diagnostics_")]
    assert keys[:5] == ["diagnostics_Versions_tomofuse", "diagnostics_Versions_Numpy", "diagnostics_Versions_Python",
                        "diagnostics_Configuration_Settings", "diagnostics_Configuration_EnabledImageTypes"]
    assert got["diagnostics_Versions_tomofuse"] == tomofuse.__version__
    assert got["diagnostics_Configuration_EnabledImageTypes"] == {"Original": {}}
    assert got["diagnostics_Configuration_Settings"]["binWidth"] == 25
    p = "diagnostics_Image-original_"
    m = "diagnostics_Mask-original_"
    compared = 0
    for k in ["Spacing", "Size"]:
        for pre in (p, m):
            assert np.allclose(got[pre + k], parse_tuple(ref[pre + k]), rtol=1e-9), pre + k
            compared += 1
    for k in ["Mean", "Minimum", "Maximum"]:
        assert close(got[p + k], float(ref[p + k]), 1e-9), k
        compared += 1
    assert got[m + "BoundingBox"] == tuple(int(x) for x in parse_tuple(ref[m + "BoundingBox"]))
    assert got[m + "VoxelNum"] == int(ref[m + "VoxelNum"])
    assert got[m + "VolumeNum"] == int(ref[m + "VolumeNum"])
    assert np.allclose(got[m + "CenterOfMassIndex"], parse_tuple(ref[m + "CenterOfMassIndex"]), rtol=1e-9)
    assert np.allclose(got[m + "CenterOfMass"], parse_tuple(ref[m + "CenterOfMass"]), rtol=1e-9, atol=1e-6)
    assert compared == 7
    # Hashes: sha256 of the files (PyRadiomics hashes the voxel buffer with SHA1).
    assert len(got[p + "Hash"]) == 64 and got[p + "Dimensionality"] == "3D"
    ext.addProvenance(False)
    assert not any(k.startswith("diagnostics_") for k in ext.execute(str(lung / f"{case}_image.nrrd"),
                                                                       str(lung / f"{case}_label.nrrd")))


def test_pyradiomics_params_equal_cli_params(tmp_path, lung1):
    """A params file through the extractor API gives the CLI's `--params` columns and values."""
    cli = find_cli()
    if not cli:
        if os.environ.get("CI") == "true":
            pytest.fail("no tomofuse CLI binary under CI (set TOMOFUSE_CLI)")
        pytest.skip("no tomofuse CLI binary (set TOMOFUSE_CLI or put tomofuse on PATH)")
    p = tmp_path / "p.yaml"
    p.write_text("imageType:\n  Original: {}\n  Square: {}\nfeatureClass:\n  shape:\n  glszm:\nsetting:\n  binWidth: 25\n")
    out = tmp_path / "f.csv"
    subprocess.run([cli, "radiomics", "--image", lung1[0], "--mask", lung1[1], "--params", str(p),
                    "--out", str(out)], check=True)
    with open(out, newline="") as f:
        header, row = list(csv.reader(f))[:2]
    cli_vals = OrderedDict((k, float(v)) for k, v in zip(header[1:], row[1:]))
    ext = featureextractor.RadiomicsFeatureExtractor(str(p))
    ext.enableFeaturesByName(glszm=[])  # no-op: the same state
    ours = features_only(ext.execute(*lung1))
    assert list(ours) == list(cli_vals)
    for k, v in cli_vals.items():
        assert ours[k] == v or (math.isnan(v) and math.isnan(ours[k])), k
