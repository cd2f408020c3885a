"""``RadiomicsFeatureExtractor`` with PyRadiomics' shape, on the tomofuse radiomics crate.

Feature names are the crate's: ``original_<class>_<Feature>`` in PyRadiomics-compatibility
presets (``pyradiomics-default``), IBSI tags (``stat_mean``, ``cm_joint_max_d1_3d_avg``, ...)
in IBSI presets. Values are the ones ``tomofuse radiomics`` writes for the same inputs: with
file paths the extractor runs the CLI's own steps (read, sha256, extract).
"""

from __future__ import annotations

import json
import numbers
import os
from collections import OrderedDict
from typing import Any, Dict, List, Optional, Union

from .. import _native
from .._image import Image, PathLike, read
from ..errors import Error

ImageOrPath = Union[Image, PathLike]

# PyRadiomics setting names the extractor maps onto tomofuse settings.
_KNOWN = {"binWidth", "binCount", "voxelArrayShift", "label"}


class RadiomicsFeatureExtractor:
    """Extracts radiomics features of one ROI.

    ``preset``: a tomofuse preset (``"pyradiomics-default"`` when neither ``preset`` nor
    ``params`` is given, as PyRadiomics' own defaults; ``"ibsi-a"`` ... ``"ibsi-e"``,
    ``"ibsi-digital-phantom"``). ``params``: a tomofuse settings TOML file, or a PyRadiomics
    parameter file (``.yaml``/``.yml``: image types Original, LoG, Wavelet, Square, ...,
    ``featureClass``, ``setting``), read exactly as ``tomofuse radiomics --params`` reads it;
    unknown or unimplemented keys are errors naming the key. ``**settings``: ``binWidth``,
    ``binCount``, ``voxelArrayShift`` and ``label`` (PyRadiomics names) override the preset or
    file.
    """

    def __init__(self, params: Optional[PathLike] = None, preset: Optional[str] = None, **settings: Any) -> None:
        unknown = set(settings) - _KNOWN
        if unknown:
            raise Error(
                f"unsupported setting(s) {sorted(unknown)}: the extractor accepts {sorted(_KNOWN)}; "
                "everything else goes in a tomofuse settings TOML (params=...)"
            )
        path = None
        if isinstance(params, dict):
            raise Error(
                "a PyRadiomics parameter dict is not supported: give binWidth, binCount, "
                "voxelArrayShift or label as keywords, or a tomofuse settings TOML as params"
            )
        if params is not None:
            path = os.fspath(params)
            if preset is not None:
                raise Error("give either params (a parameter file) or preset, not both")
        bin_count = settings.get("binCount")
        if bin_count is not None and (isinstance(bin_count, bool) or not isinstance(bin_count, int) or bin_count < 1):
            raise ValueError(f"binCount must be a positive integer, got {bin_count!r}")
        self.settings_toml, file_label = _native.radiomics_settings(
            preset,
            path,
            _opt_float(settings.get("binWidth"), "binWidth"),
            bin_count,
            _opt_float(settings.get("voxelArrayShift"), "voxelArrayShift"),
        )
        # A keyword label wins over the parameter file's `setting.label`, as in PyRadiomics.
        self.label: int = _label(settings.get("label", 1 if file_label is None else file_label))
        self.last_provenance: Optional[Dict[str, Any]] = None
        self.last_details: List[Dict[str, Any]] = []

    @staticmethod
    def presets() -> List[str]:
        """Names of the shipped presets."""
        return list(_native.radiomics_presets())

    def execute(
        self, imageFilepath: ImageOrPath, maskFilepath: ImageOrPath, label: Optional[int] = None
    ) -> "OrderedDict[str, float]":
        """Features of the ROI ``mask == label`` as ``OrderedDict(name -> value)``.

        Image and mask are paths (NIfTI, NRRD, DICOM folder) or ``tomofuse.Image``s on the
        same grid. NaN values carry a reason in ``last_details``; the provenance (settings,
        input hashes) is in ``last_provenance``.
        """
        lab = self.label if label is None else _label(label)
        if not isinstance(imageFilepath, Image) and not isinstance(maskFilepath, Image):
            rows, prov = _native.radiomics_files(
                os.fspath(imageFilepath), os.fspath(maskFilepath), lab, self.settings_toml
            )
        else:
            img = imageFilepath if isinstance(imageFilepath, Image) else read(imageFilepath)
            msk = maskFilepath if isinstance(maskFilepath, Image) else read(maskFilepath)
            if img.shape != msk.shape:
                raise ValueError(f"mask shape {msk.shape} differs from image shape {img.shape}")
            rows, prov = _native.radiomics_arrays(
                img._f32_bytes("image"),
                img.shape,
                img._geom(),
                msk._f32_bytes("mask"),
                msk.shape,
                msk._geom(),
                lab,
                self.settings_toml,
            )
        self.last_provenance = json.loads(prov)
        self.last_details = [
            {"name": t, "value": v, "family": fam, "feature": name, "ibsi_code": code, "reason": reason}
            for (t, v, fam, name, code, reason) in rows
        ]
        return OrderedDict((t, v) for (t, v, *_rest) in rows)


def _label(x: Any) -> int:
    if isinstance(x, bool) or not isinstance(x, numbers.Integral) or not 0 <= int(x) <= 255:
        raise ValueError(f"label must be an integer in 0..=255, got {x!r}")
    return int(x)


def _opt_float(x: Any, name: str) -> Optional[float]:
    if x is None:
        return None
    try:
        return float(x)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {x!r}") from None
