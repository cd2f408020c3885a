"""`Image`: voxels as numpy plus LPS geometry, and read/write/resample over the Rust crates.

Axis order: ``Image.array[i, j, k]`` is voxel (i, j, k) of the NIfTI/ITK grid, exactly the
Rust ``Volume`` layout and nibabel's ``img.get_fdata()`` order. SimpleITK's
``GetArrayFromImage`` returns the reverse, ``[k, j, i]`` (z, y, x); ``to_sitk``/``from_sitk``
transpose for you. Geometry is LPS (ITK/DICOM): ``spacing`` along i, j, k in mm, ``origin``
the LPS position of voxel (0, 0, 0), ``direction[r][c]`` component r of index axis c (the
row-major 3x3 SimpleITK's ``GetDirection`` flattens). ``affine_ras`` is nibabel's ``img.affine``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Dict, Optional, Sequence, Tuple, Union

import numpy as np

from . import _native

PathLike = Union[str, "os.PathLike[str]"]
Vec3 = Tuple[float, float, float]
Mat3 = Tuple[Vec3, Vec3, Vec3]


def _vec3(x: Sequence[float], what: str) -> Vec3:
    t = tuple(float(v) for v in x)
    if len(t) != 3:
        raise ValueError(f"{what} must have 3 components (i, j, k), got {len(t)}")
    return t


def _mat3(m: Any) -> Mat3:
    a = np.asarray(m, dtype=np.float64)
    if a.shape == (9,):
        a = a.reshape(3, 3)
    if a.shape != (3, 3):
        raise ValueError(f"direction must be 3x3 (or 9 values, row-major), got shape {a.shape}")
    return tuple(tuple(float(v) for v in row) for row in a)  # type: ignore[return-value]


@dataclass(eq=False)
class Image:
    """A 3D image: ``array`` indexed ``[i, j, k]`` and its LPS geometry. ``==`` is identity
    (compare ``array`` and the geometry fields explicitly)."""

    array: np.ndarray
    spacing: Vec3 = (1.0, 1.0, 1.0)
    origin: Vec3 = (0.0, 0.0, 0.0)
    direction: Mat3 = ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0))
    # The file's own RAS affine when read (NIfTI: nibabel's, sform/qform exactly as stored),
    # used while the geometry is still the one read with it.
    _file_affine: Optional[np.ndarray] = field(default=None, repr=False, compare=False)
    _file_geom: Any = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.array = np.asarray(self.array)
        if self.array.ndim != 3:
            raise ValueError(f"Image.array must be 3D [i, j, k], got {self.array.ndim}D shape {self.array.shape}")
        if not (np.issubdtype(self.array.dtype, np.number) or self.array.dtype == np.bool_):
            raise ValueError(f"Image.array must be numeric, got dtype {self.array.dtype}")
        self.spacing = _vec3(self.spacing, "spacing")
        self.origin = _vec3(self.origin, "origin")
        self.direction = _mat3(self.direction)
        if self._file_affine is not None and self._file_geom is None:
            self._file_geom = self._geom()

    @property
    def shape(self) -> Tuple[int, int, int]:
        return tuple(self.array.shape)

    @property
    def affine_ras(self) -> np.ndarray:
        """4x4 voxel-index -> RAS mm (= nibabel ``img.affine``)."""
        if self._file_affine is not None and self._file_geom == self._geom():
            return self._file_affine.copy()
        return np.array(_native.affine_ras(self._geom()), dtype=np.float64)

    def _geom(self) -> Tuple[Vec3, Vec3, Mat3]:
        return (self.spacing, self.origin, self.direction)

    def _f32_bytes(self, what: str = "image") -> bytes:
        if self.array.size == 0:
            raise ValueError(f"{what} is empty: shape {self.array.shape}")
        return np.ascontiguousarray(self.array, dtype=np.float32).tobytes()

    # --- SimpleITK (optional) ---
    def to_sitk(self) -> Any:
        """A ``SimpleITK.Image`` with the same voxels and geometry (needs SimpleITK)."""
        sitk = _require_sitk()
        a = self.array.astype(np.uint8) if self.array.dtype == np.bool_ else self.array
        img = sitk.GetImageFromArray(np.ascontiguousarray(a.transpose(2, 1, 0)))
        img.SetSpacing(self.spacing)
        img.SetOrigin(self.origin)
        img.SetDirection(tuple(v for row in self.direction for v in row))
        return img

    @classmethod
    def from_sitk(cls, img: Any) -> "Image":
        """From a 3D scalar ``SimpleITK.Image`` (its ``[k, j, i]`` array is transposed)."""
        sitk = _require_sitk()
        if img.GetDimension() != 3 or img.GetNumberOfComponentsPerPixel() != 1:
            raise ValueError(
                f"need a 3D scalar SimpleITK image, got dimension {img.GetDimension()} "
                f"with {img.GetNumberOfComponentsPerPixel()} component(s)"
            )
        a = np.ascontiguousarray(sitk.GetArrayFromImage(img).transpose(2, 1, 0))
        return cls(a, img.GetSpacing(), img.GetOrigin(), _mat3(img.GetDirection()))


def _require_sitk() -> Any:
    try:
        import SimpleITK as sitk  # noqa: N813
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("SimpleITK is needed for this: pip install SimpleITK") from e
    return sitk


def _from_native(d: Dict[str, Any]) -> Image:
    arr = np.frombuffer(d["data"], dtype=np.float32).reshape(tuple(d["shape"]))
    return Image(arr, d["spacing"], d["origin"], d["direction"], np.array(d["affine_ras"], dtype=np.float64))


def read(path: PathLike, series_uid: Optional[str] = None) -> Image:
    """Reads NIfTI (.nii/.nii.gz), NRRD (.nrrd/.nhdr) or a DICOM series folder as float32
    with scaling applied (HU for CT). ``series_uid`` picks one series of a DICOM folder."""
    return _from_native(_native.read_image(os.fspath(path), series_uid))


_WRITABLE = ("uint8", "int8", "int16", "uint16", "int32", "uint32", "float32", "float64")


def write(image: Image, path: PathLike) -> None:
    """Writes NIfTI-1 (.nii or .nii.gz) in the array's dtype (bool as uint8; int64 and other
    dtypes NIfTI-1 readers handle poorly are refused), sform and qform both set."""
    a = image.array
    if a.dtype == np.bool_:
        a = a.astype(np.uint8)
    if a.dtype.name not in _WRITABLE:
        raise ValueError(f"dtype {a.dtype} cannot be written: convert to one of {', '.join(_WRITABLE)}")
    if a.size == 0:
        raise ValueError(f"image is empty: shape {a.shape}")
    a = np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("="))
    _native.write_nifti(os.fspath(path), a.tobytes(), a.dtype.name, a.shape, image._geom())


def resample(
    image: Image,
    spacing: Sequence[float],
    interp: str = "linear",
    grid: str = "itk",
    default_value: float = 0.0,
    round: bool = False,
) -> Image:
    """Resamples to ``spacing`` (mm along i, j, k), as ``tomofuse resample --spacing``.

    ``interp``: ``"nearest"``, ``"linear"`` or ``"bspline"`` (SimpleITK's sitkBSpline).
    ``grid="itk"`` keeps the origin and rounds the size (the SimpleITK recipe); ``"ibsi"``
    aligns grid centres and rounds up (IBSI). Voxels are float32 afterwards.
    """
    sp = _vec3(spacing, "spacing")
    d = _native.resample(
        image._f32_bytes(), image.shape, image._geom(), sp, interp, grid, float(default_value), bool(round)
    )
    return _from_native(d)
