"""tomofuse.read/write/resample and the SimpleITK bridge against nibabel and SimpleITK
reading and resampling the same files."""

import numpy as np
import pytest

import tomofuse

nib = pytest.importorskip("nibabel")
sitk = pytest.importorskip("SimpleITK")


def sitk_as_ijk(img):
    return sitk.GetArrayFromImage(img).transpose(2, 1, 0)


def assert_geometry_equal(im, ref, atol=1e-6):
    np.testing.assert_allclose(im.spacing, ref.GetSpacing(), atol=atol)
    np.testing.assert_allclose(im.origin, ref.GetOrigin(), atol=atol)
    np.testing.assert_allclose(np.ravel(im.direction), ref.GetDirection(), atol=atol)


def test_read_nifti_matches_nibabel(ibsi):
    path = ibsi / "ct_phantom/nifti/image.nii.gz"
    im = tomofuse.read(path)
    ref = nib.load(str(path))
    assert im.array.dtype == np.float32
    assert im.shape == ref.shape == (204, 201, 60)
    # Same [i, j, k] order as nibabel, values bit-identical after float32 scaling.
    np.testing.assert_array_equal(im.array, np.asarray(ref.dataobj, dtype=np.float32))
    np.testing.assert_allclose(im.affine_ras, ref.affine, atol=1e-6)
    # The geometry-derived affine agrees with the file's.
    np.testing.assert_allclose(tomofuse.Image(im.array, im.spacing, im.origin, im.direction).affine_ras, ref.affine, atol=1e-4)


@pytest.mark.parametrize("rel", ["ct_phantom/nifti/image.nii.gz", "ct_phantom/nifti/mask.nii.gz"])
def test_read_nifti_matches_simpleitk(ibsi, rel):
    im = tomofuse.read(ibsi / rel)
    ref = sitk.ReadImage(str(ibsi / rel))
    np.testing.assert_array_equal(im.array, sitk_as_ijk(ref).astype(np.float32))
    assert_geometry_equal(im, ref, atol=1e-4)


@pytest.mark.parametrize("case", ["lung1", "lung2"])
def test_read_nrrd_matches_simpleitk(lung, case):
    path = lung / f"{case}_image.nrrd"
    im = tomofuse.read(path)
    ref = sitk.ReadImage(str(path))
    np.testing.assert_array_equal(im.array, sitk_as_ijk(ref).astype(np.float32))
    assert_geometry_equal(im, ref)


def test_read_dicom_series_matches_simpleitk(ibsi):
    folder = ibsi / "ct_phantom/dicom/image"
    im = tomofuse.read(folder)
    r = sitk.ImageSeriesReader()
    r.SetFileNames(r.GetGDCMSeriesFileNames(str(folder)))
    ref = r.Execute()
    np.testing.assert_array_equal(im.array, sitk_as_ijk(ref).astype(np.float32))
    assert_geometry_equal(im, ref, atol=1e-4)


def test_sitk_bridge_round_trip(lung):
    im = tomofuse.read(lung / "lung1_image.nrrd")
    s = im.to_sitk()
    ref = sitk.ReadImage(str(lung / "lung1_image.nrrd"))
    assert s.GetSize() == ref.GetSize()
    assert_geometry_equal(im, s)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(s), sitk.GetArrayFromImage(ref).astype(np.float32))
    back = tomofuse.Image.from_sitk(s)
    np.testing.assert_array_equal(back.array, im.array)
    assert back.spacing == im.spacing and back.origin == im.origin and back.direction == im.direction
    np.testing.assert_allclose(back.affine_ras, im.affine_ras, atol=1e-9)


@pytest.mark.parametrize("dtype", ["int16", "float32", "uint8"])
def test_write_read_back_with_nibabel(tmp_path, lung, dtype):
    im = tomofuse.read(lung / "lung1_image.nrrd")
    arr = np.clip(im.array, 0, 255) if dtype == "uint8" else im.array
    out = tomofuse.Image(arr.astype(dtype), im.spacing, im.origin, im.direction)
    path = tmp_path / "x.nii.gz"
    tomofuse.write(out, path)
    ref = nib.load(str(path))
    assert ref.get_data_dtype() == np.dtype(dtype)
    np.testing.assert_array_equal(np.asarray(ref.dataobj), out.array)
    np.testing.assert_allclose(ref.affine, out.affine_ras, atol=1e-4)
    # and back through tomofuse, geometry within float32 header precision
    again = tomofuse.read(path)
    np.testing.assert_allclose(again.spacing, im.spacing, atol=1e-5)
    np.testing.assert_allclose(again.origin, im.origin, atol=1e-3)


def sitk_resample(ref, spacing, interp):
    size = [max(1, int(np.floor(n * s / t + 0.5))) for n, s, t in zip(ref.GetSize(), ref.GetSpacing(), spacing)]
    kinds = {"nearest": sitk.sitkNearestNeighbor, "linear": sitk.sitkLinear, "bspline": sitk.sitkBSpline}
    return sitk.Resample(
        ref, size, sitk.Transform(), kinds[interp], ref.GetOrigin(), spacing, ref.GetDirection(), 0.0, sitk.sitkFloat32
    )


# Tolerances of crates/tomofuse-preprocess/tests/simpleitk.rs (HU). Nearest uses a spacing
# whose sample points avoid exact half-voxel ties (5 mm slices at 1.7 mm put every 25th slice
# on one, where ITK and tomofuse round the last ulp differently).
@pytest.mark.parametrize(
    "interp,spacing,tol",
    [("nearest", (1.5, 1.5, 1.5), 0.0), ("linear", (1.3, 0.9, 1.7), 1e-3), ("bspline", (1.3, 0.9, 1.7), 0.5)],
)
def test_resample_matches_simpleitk(lung, interp, spacing, tol):
    path = lung / "lung2_image.nrrd"
    im = tomofuse.read(path)
    out = tomofuse.resample(im, spacing=spacing, interp=interp)
    ref = sitk_resample(sitk.Cast(sitk.ReadImage(str(path)), sitk.sitkFloat32), spacing, interp)
    assert out.shape == ref.GetSize()
    assert_geometry_equal(out, ref)
    diff = np.abs(out.array - sitk_as_ijk(ref))
    assert diff.max() <= tol, f"{interp}: max |diff| {diff.max()} HU"


def test_resample_ibsi_grid_is_centred(ibsi):
    im = tomofuse.read(ibsi / "ct_phantom/nifti/image.nii.gz")
    out = tomofuse.resample(im, spacing=(2.0, 2.0, 2.0), interp="linear", grid="ibsi")
    # IBSI: size = ceil(n * s / s'), grid centres coincide.
    want = tuple(int(np.ceil(n * s / 2.0)) for n, s in zip(im.shape, im.spacing))
    assert out.shape == want
    centre = lambda x: x.affine_ras @ np.r_[(np.array(x.shape) - 1) / 2.0, 1.0]  # noqa: E731
    np.testing.assert_allclose(centre(out), centre(im), atol=1e-6)


# ---- bad input -------------------------------------------------------------------------


def test_missing_file_is_tomofuse_error(tmp_path):
    p = tmp_path / "nope.nii.gz"
    with pytest.raises(tomofuse.Error, match="nope.nii.gz"):
        tomofuse.read(p)
    assert issubclass(tomofuse.Error, ValueError)


def test_corrupt_nifti_names_file_and_field(tmp_path):
    p = tmp_path / "bad.nii"
    hdr = bytearray(352)
    hdr[0:4] = (348).to_bytes(4, "little")
    hdr[40:42] = (9).to_bytes(2, "little")  # dim[0] = 9: invalid
    hdr[344:348] = b"n+1\0"
    p.write_bytes(bytes(hdr))
    with pytest.raises(tomofuse.Error) as e:
        tomofuse.read(p)
    assert "bad.nii" in str(e.value) and "dim" in str(e.value)


def test_bad_arrays_are_value_errors(tmp_path):
    with pytest.raises(ValueError, match="3D"):
        tomofuse.Image(np.zeros((4, 4)))
    with pytest.raises(ValueError, match="numeric"):
        tomofuse.Image(np.full((2, 2, 2), "a"))
    with pytest.raises(ValueError, match="spacing"):
        tomofuse.Image(np.zeros((2, 2, 2)), spacing=(1, 1))
    with pytest.raises(ValueError, match="direction"):
        tomofuse.Image(np.zeros((2, 2, 2)), direction=np.eye(2))
    with pytest.raises(ValueError, match="int64"):
        tomofuse.write(tomofuse.Image(np.zeros((2, 2, 2), dtype=np.int64)), tmp_path / "x.nii")
    with pytest.raises(ValueError, match="empty"):
        tomofuse.resample(tomofuse.Image(np.zeros((0, 2, 2))), spacing=(1, 1, 1))


def test_rust_validation_errors(tmp_path):
    img = tomofuse.Image(np.zeros((4, 4, 4), dtype=np.float32))
    with pytest.raises(tomofuse.Error, match=r"\.nii"):
        tomofuse.write(img, tmp_path / "x.png")
    with pytest.raises(tomofuse.Error, match="spacing"):
        tomofuse.resample(img, spacing=(1, -1, 1))
    with pytest.raises(tomofuse.Error, match="interp"):
        tomofuse.resample(img, spacing=(1, 1, 1), interp="quintic")
    with pytest.raises(tomofuse.Error, match="direction"):
        tomofuse.write(tomofuse.Image(img.array, direction=np.ones((3, 3))), tmp_path / "x.nii")
    with pytest.raises(tomofuse.Error, match="spacing"):
        tomofuse.write(tomofuse.Image(img.array, spacing=(1, 0, 1)), tmp_path / "x.nii")
