# Type stubs for the compiled module (crates/tomofuse-py). Voxels travel as C-order bytes
# over [i, j, k]; geometry is LPS: (spacing, origin, direction 3x3 row-major).
from typing import Any, Dict, List, Optional, Sequence, Tuple

_Vec3 = Tuple[float, float, float]
_Geom = Tuple[Sequence[float], Sequence[float], Sequence[Sequence[float]]]
_Shape = Tuple[int, int, int]
_FeatureRow = Tuple[str, float, str, str, str, Optional[str]]

__version__: str

class Error(ValueError): ...

def read_image(path: str, series_uid: Optional[str] = None) -> Dict[str, Any]: ...
def write_nifti(path: str, data: bytes, dtype: str, shape: Sequence[int], geom: _Geom) -> None: ...
def affine_ras(geom: _Geom) -> List[List[float]]: ...
def resample(
    data: bytes,
    shape: Sequence[int],
    geom: _Geom,
    new_spacing: Sequence[float],
    interp: str,
    grid: str,
    default_value: float,
    round: bool,
) -> Dict[str, Any]: ...
def radiomics_settings(
    preset: Optional[str] = None,
    path: Optional[str] = None,
    bin_width: Optional[float] = None,
    bin_count: Optional[int] = None,
    voxel_array_shift: Optional[float] = None,
) -> Tuple[str, Optional[int]]: ...
def radiomics_presets() -> List[str]: ...
def pyradiomics_params(text: str, source: str) -> Tuple[str, Optional[int]]: ...
def yaml_file_to_json(path: str) -> str: ...

_Diagnostics = Dict[str, Any]
_RadiomicsOut = Tuple[List[_FeatureRow], str, Optional[_Diagnostics]]
# (maps [(name, float32 C-order bytes)], crop shape, crop geometry {spacing, origin,
#  direction}, crop lower corner, ROI uint8 bytes on the crop, diagnostics)
_VoxelOut = Tuple[List[Tuple[str, bytearray]], _Shape, Dict[str, Any], _Shape, bytearray, Optional[_Diagnostics]]

def radiomics_files(
    image: str, mask: str, label: int, settings_toml: str, diagnostics: bool = False
) -> _RadiomicsOut: ...
def radiomics_arrays(
    image: bytes,
    image_shape: Sequence[int],
    image_geom: _Geom,
    mask: bytes,
    mask_shape: Sequence[int],
    mask_geom: _Geom,
    label: int,
    settings_toml: str,
    diagnostics: bool = False,
) -> _RadiomicsOut: ...
def voxel_files(
    image: str,
    mask: str,
    label: int,
    settings_toml: str,
    kernel_radius: int,
    masked_kernel: bool,
    features: Sequence[str],
    diagnostics: bool = False,
) -> _VoxelOut: ...
def voxel_arrays(
    image: bytes,
    image_shape: Sequence[int],
    image_geom: _Geom,
    mask: bytes,
    mask_shape: Sequence[int],
    mask_geom: _Geom,
    label: int,
    settings_toml: str,
    kernel_radius: int,
    masked_kernel: bool,
    features: Sequence[str],
    diagnostics: bool = False,
) -> _VoxelOut: ...
def roc_auc(
    y: Sequence[bool], score: Sequence[float], ci: str, n_boot: int, seed: int, level: float
) -> Tuple[float, float, float, float]: ...
def delong_test(
    y: Sequence[bool], s1: Sequence[float], s2: Sequence[float], level: float
) -> Tuple[float, float, float, float, float, float, float, float]: ...
def calibration(y: Sequence[bool], p: Sequence[float], n_bins: int, strategy: str) -> List[Tuple[float, float, int]]: ...
def decision_curve(
    y: Sequence[bool], p: Sequence[float], thresholds: Sequence[float]
) -> List[Tuple[float, float, float, float]]: ...
