"""`execute(..., voxelBased=True)` against PyRadiomics 3.0.1's stored voxel maps
(crates/tomofuse-radiomics/tests/data/voxel, written by benches/python/voxel_reference.py:
the maps sampled at the ROI voxels in k-j-i order) and against `tomofuse radiomics
--voxel-map` on the same files. The tolerance rule is the Rust test's
(tests/voxel_pyradiomics.rs): 1e-4 relative, with a floor of 1e-4 times the map's largest
magnitude, NaN where PyRadiomics is NaN; PyRadiomics' all-NaN GLCM MCC map (its batch
eigen-solver fails when one kernel has an empty direction) is accepted only in that case."""

import math
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

import tomofuse
from tomofuse.radiomics import featureextractor

from test_radiomics import find_cli

DATA = Path(__file__).resolve().parents[2] / "crates/tomofuse-radiomics/tests/data/voxel"
IMAGE, MASK = str(DATA / "lung1_crop_image.nii.gz"), str(DATA / "lung1_crop_mask.nii.gz")


def as_image(x):
    return x if isinstance(x, tomofuse.Image) else tomofuse.Image.from_sitk(x)


def roi_voxels(mask):
    """ROI voxels in PyRadiomics' order: numpy C order over [z, y, x] = k, then j, then i."""
    k, j, i = np.nonzero(mask.array.transpose(2, 1, 0) == 1)
    return np.stack([i, j, k], axis=1)


def crop_lower(mask, radius):
    """PyRadiomics' voxel grid: the ROI bounding box padded by the kernel radius, clipped."""
    idx = np.argwhere(mask.array == 1)
    return np.maximum(idx.min(axis=0) - radius, 0), np.minimum(idx.max(axis=0) + radius, np.array(mask.shape) - 1)


@pytest.fixture(scope="module")
def names():
    return (DATA / "features.txt").read_text().split()


@pytest.mark.parametrize("radius,masked", [(1, True), (1, False), (2, True), (2, False)])
def test_voxel_maps_equal_pyradiomics_reference(names, radius, masked):
    ref = tomofuse.read(DATA / f"ref_r{radius}_{'masked' if masked else 'unmasked'}.nii.gz").array[:, :, 0]
    mask = tomofuse.read(MASK)
    roi = roi_voxels(mask)
    assert ref.shape == (len(roi), len(names))
    ext = featureextractor.RadiomicsFeatureExtractor(binWidth=25, kernelRadius=radius, maskedKernel=masked)
    out = ext.execute(IMAGE, MASK, voxelBased=True)
    maps = {k: as_image(v) for k, v in out.items() if not k.startswith("diagnostics_")}
    assert sorted(maps) == sorted(f"original_{n}" for n in names)
    lo, hi = crop_lower(mask, radius)
    image = tomofuse.read(IMAGE)
    failures, compared = [], 0
    for f, name in enumerate(names):
        m = maps[f"original_{name}"]
        # Geometry: PyRadiomics' crop of the input grid.
        assert m.shape == tuple(hi - lo + 1), name
        world = np.array(image.origin) + np.array(image.direction) @ (np.array(image.spacing) * lo)
        assert np.allclose(m.origin, world, atol=1e-6) and np.allclose(m.spacing, image.spacing)
        inside = np.zeros(m.shape, dtype=bool)
        inside[tuple((roi - lo).T)] = True
        assert np.all(m.array[~inside] == 0.0), f"{name}: initValue 0 outside the ROI"
        got = m.array[tuple((roi - lo).T)].astype(np.float64)
        want = ref[:, f].astype(np.float64)
        if name == "glcm_MCC" and np.all(np.isnan(want)):
            ja = maps["original_glcm_JointAverage"].array[tuple((roi - lo).T)]
            assert np.isnan(ja).any(), "PyRadiomics MCC is all NaN without an empty direction"
            assert np.isfinite(got).all()
            continue
        finite = want[np.isfinite(want)]
        scale = np.abs(finite).max() if finite.size else 0.0
        for v in range(len(roi)):
            r, g = want[v], got[v]
            compared += 1
            if math.isnan(r) or math.isnan(g):
                if math.isnan(r) != math.isnan(g):
                    failures.append((name, tuple(roi[v]), g, r))
                continue
            if abs(g - r) > 1e-4 * max(abs(r), 1e-4 * scale):
                failures.append((name, tuple(roi[v]), g, r))
    assert compared > 0.9 * len(roi) * len(names)
    assert not failures, failures[:20]


def test_voxel_maps_equal_cli(tmp_path, names):
    cli = find_cli()
    if not cli:
        if os.environ.get("CI") == "true":
            pytest.fail("no tomofuse CLI binary under CI (set TOMOFUSE_CLI)")
        pytest.skip("no tomofuse CLI binary (set TOMOFUSE_CLI or put tomofuse on PATH)")
    radius = 2
    subprocess.run([cli, "radiomics", "--voxel-map", "--image", IMAGE, "--mask", MASK, "--preset",
                    "pyradiomics-default", "--kernel-radius", str(radius), "--masked-kernel", "false",
                    "--features", "glcm,glszm", "--out-dir", str(tmp_path)], check=True)
    ext = featureextractor.RadiomicsFeatureExtractor(kernelRadius=radius, maskedKernel=False)
    ext.disableAllFeatures()
    ext.enableFeatureClassByName("glcm")
    ext.enableFeatureClassByName("glszm")
    ext.enableFeatureClassByName("shape")  # no shape maps, as PyRadiomics
    # In-memory inputs take the array route; the maps must not depend on it.
    out = ext.execute(tomofuse.read(IMAGE), tomofuse.read(MASK), voxelBased=True)
    maps = {k: as_image(v) for k, v in out.items() if not k.startswith("diagnostics_")}
    want = [n for n in names if n.startswith(("glcm_", "glszm_"))]
    assert sorted(maps) == sorted(f"original_{n}" for n in want)
    mask = tomofuse.read(MASK)
    lo, hi = crop_lower(mask, radius)
    sl = tuple(slice(a, b + 1) for a, b in zip(lo, hi))
    inside = mask.array[sl] == 1
    for n in want:
        ours = maps[f"original_{n}"].array
        theirs = tomofuse.read(tmp_path / f"{n}.nii.gz").array[sl]
        assert np.array_equal(ours[inside], theirs[inside], equal_nan=True), n
        assert np.isnan(tomofuse.read(tmp_path / f"{n}.nii.gz").array[mask.array != 1]).all()


def test_voxel_errors():
    ext = featureextractor.RadiomicsFeatureExtractor()
    ext.enableImageTypeByName("Square")
    with pytest.raises(tomofuse.Error, match="Square"):
        ext.execute(IMAGE, MASK, voxelBased=True)
    with pytest.raises(tomofuse.Error, match="kernelRadius"):
        featureextractor.RadiomicsFeatureExtractor(kernelRadius=0).execute(IMAGE, MASK, voxelBased=True)
    ext = featureextractor.RadiomicsFeatureExtractor({"voxelSetting": {"kernelRadius": 2, "maskedKernel": False}})
    assert ext.settings["kernelRadius"] == 2 and ext.settings["maskedKernel"] is False


def test_voxel_output_type_follows_simpleitk():
    sitk = pytest.importorskip("SimpleITK")
    ext = featureextractor.RadiomicsFeatureExtractor()
    ext.disableAllFeatures()
    ext.enableFeaturesByName(firstorder=["Mean"])
    out = ext.execute(IMAGE, MASK, voxelBased=True)
    m = out["original_firstorder_Mean"]
    assert isinstance(m, sitk.Image)
    assert "diagnostics_Mask-original_VoxelNum" in out


def test_voxel_output_without_simpleitk_is_tomofuse_image(monkeypatch):
    """Without SimpleITK the maps are `tomofuse.Image`s with the same voxels."""
    ext = featureextractor.RadiomicsFeatureExtractor()
    ext.disableAllFeatures()
    ext.enableFeaturesByName(glcm=["Contrast"])
    with_sitk = as_image(ext.execute(IMAGE, MASK, voxelBased=True)["original_glcm_Contrast"])
    monkeypatch.setattr(featureextractor, "_sitk", lambda: None)
    m = ext.execute(IMAGE, MASK, voxelBased=True)["original_glcm_Contrast"]
    assert isinstance(m, tomofuse.Image)
    assert np.array_equal(m.array, with_sitk.array, equal_nan=True)
    assert np.allclose(m.origin, with_sitk.origin) and np.allclose(m.spacing, with_sitk.spacing)
