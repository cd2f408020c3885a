"""``RadiomicsFeatureExtractor`` with PyRadiomics 3.0.1's API, on the tomofuse radiomics crate.

A PyRadiomics script runs with its import line changed to
``from tomofuse.radiomics import featureextractor``::

    extractor = featureextractor.RadiomicsFeatureExtractor("Params.yaml")   # or a dict, or nothing
    extractor.disableAllFeatures()
    extractor.enableFeatureClassByName("glcm")
    result = extractor.execute(image, mask)        # paths, tomofuse.Image or SimpleITK images
    for key, value in result.items(): ...          # original_glcm_Contrast, diagnostics_*, ...

The extractor keeps PyRadiomics' state (``settings``, ``enabledImagetypes``,
``enabledFeatures``) and changes it as PyRadiomics does; before each extraction the state is
serialised in PyRadiomics' parameter schema and read by the crate's parser
(``settings::pyradiomics_params``, the reader of ``tomofuse radiomics --params``). So
unknown keys are errors naming the key, and options PyRadiomics accepts but tomofuse does not
implement raise ``tomofuse.Error`` instead of being ignored.

Differences from PyRadiomics, all explicit: unknown image types or feature classes given to
``enable*ByName`` raise (PyRadiomics logs a warning); the ``diagnostics_*`` entries are the
cheap ones (see ``RadiomicsFeatureExtractor.execute``); voxel settings (``kernelRadius``,
``maskedKernel``, ``initValue``, ``voxelBatch``) come from keywords or the params'
``voxelSetting`` and are checked here, not by the crate's parser.

The tomofuse extensions ``preset=`` (``"pyradiomics-default"``, ``"ibsi-a"``, ...) and a
tomofuse settings TOML as ``params`` select crate settings directly; feature names are then the
crate's (IBSI tags under IBSI presets) and the ``enable*`` methods do not apply.
"""

from __future__ import annotations

import copy
import json
import numbers
import os
import platform
from collections import OrderedDict
from typing import Any, Dict, List, Optional, Tuple, Union

import numpy as np

from .. import _native
from .._image import Image, PathLike, read
from ..errors import Error

# PyRadiomics 3.0.1's `getImageTypes()` and `getFeatureClasses()`, in its order.
IMAGE_TYPES = [
    "Exponential",
    "Gradient",
    "LBP2D",
    "LBP3D",
    "LoG",
    "Logarithm",
    "Original",
    "Square",
    "SquareRoot",
    "Wavelet",
]
FEATURE_CLASSES = ["firstorder", "glcm", "gldm", "glrlm", "glszm", "ngtdm", "shape", "shape2D"]

# PyRadiomics' `voxelSetting` keys with their defaults (`base.py`, `featureextractor.py`).
VOXEL_SETTINGS: Dict[str, Any] = {"kernelRadius": 1, "maskedKernel": True, "initValue": 0, "voxelBatch": -1}

# Keywords the tomofuse-settings mode (preset= or a TOML) maps onto crate settings.
_TOML_KEYWORDS = {"binWidth", "binCount", "voxelArrayShift", "label"}


def _default_settings() -> Dict[str, Any]:
    """PyRadiomics' `_getDefaultSettings()`."""
    return {
        "minimumROIDimensions": 2,
        "minimumROISize": None,
        "normalize": False,
        "normalizeScale": 1,
        "removeOutliers": None,
        "resampledPixelSpacing": None,
        "interpolator": "sitkBSpline",
        "preCrop": False,
        "padDistance": 5,
        "distances": [1],
        "force2D": False,
        "force2Ddimension": 0,
        "resegmentRange": None,
        "label": 1,
        "additionalInfo": True,
    }


def _json(doc: Any) -> str:
    def plain(o: Any) -> Any:
        if isinstance(o, np.generic):
            return o.item()
        if isinstance(o, np.ndarray):
            return o.tolist()
        if isinstance(o, os.PathLike):
            return os.fspath(o)
        raise TypeError(f"{o!r} ({type(o).__name__}) is not a parameter value")

    try:
        return json.dumps(doc, default=plain, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise Error(f"parameters cannot be read: {e}") from None


class RadiomicsFeatureExtractor:
    """Extracts radiomics features of one ROI, as PyRadiomics' class of the same name.

    ``params`` (first positional argument, as PyRadiomics): a PyRadiomics parameter file
    (``.yaml``/``.yml``/``.json``) or a dict in its schema (``imageType``, ``featureClass``,
    ``setting``, ``voxelSetting``); None for PyRadiomics' defaults (Original image, every
    feature class except shape2D). ``**kwargs``: PyRadiomics settings (``binWidth=25``,
    ``label=2``, ``kernelRadius=2``, ...), overriding the file's ``setting`` as in PyRadiomics.

    tomofuse extensions: ``preset="ibsi-a"`` (any of :meth:`presets`) or ``params`` a tomofuse
    settings TOML select crate settings directly (keywords: ``binWidth``, ``binCount``,
    ``voxelArrayShift``, ``label`` and the voxel settings).
    """

    def __init__(self, *args: Any, preset: Optional[str] = None, **kwargs: Any) -> None:
        if len(args) > 1:
            raise TypeError(f"RadiomicsFeatureExtractor takes at most one positional argument (params), got {len(args)}")
        params = args[0] if args else kwargs.pop("params", None)
        self.settings: Dict[str, Any] = {}
        self.enabledImagetypes: Dict[str, Dict[str, Any]] = {}
        self.enabledFeatures: Dict[str, Optional[List[str]]] = {}
        self.featureClassNames = list(FEATURE_CLASSES)
        self.last_provenance: Optional[Dict[str, Any]] = None
        self.last_details: List[Dict[str, Any]] = []
        self._toml_cache: Tuple[Optional[str], Optional[str]] = (None, None)
        self._fixed_toml: Optional[str] = None  # tomofuse-settings mode

        is_toml = isinstance(params, (str, os.PathLike)) and os.fspath(params).lower().endswith(".toml")
        if preset is not None or is_toml:
            self._init_tomofuse(preset, params, kwargs)
            return
        if preset is None and params is not None and not isinstance(params, (dict, str, os.PathLike)):
            raise TypeError(f"params must be a parameter file path or a dict, got {type(params).__name__}")

        if isinstance(params, dict):
            self._source = "parameter dict"
            self._apply_params(copy.deepcopy(params))
        elif params is not None:
            path = os.fspath(params)
            if not os.path.isfile(path):
                raise IOError(f"Parameter file {path} does not exist.")
            self._source = path
            self._apply_params(json.loads(_native.yaml_file_to_json(path)))
        else:
            self._source = "default parameters"
            self.settings = _default_settings()
            self.enabledImagetypes = {"Original": {}}
            self.enabledFeatures = {c: [] for c in FEATURE_CLASSES if c != "shape2D"}
        if kwargs:
            self.settings.update(kwargs)
            self._source += f" with keyword settings {sorted(kwargs)}"
        self._settings_toml()  # checks everything now: errors name the file and the key

    # ---- parameters ------------------------------------------------------------------

    def _init_tomofuse(self, preset: Optional[str], params: Any, kwargs: Dict[str, Any]) -> None:
        unknown = set(kwargs) - _TOML_KEYWORDS - set(VOXEL_SETTINGS)
        if unknown:
            raise Error(
                f"unsupported keyword(s) {sorted(unknown)} with a preset or settings TOML: the "
                f"extractor accepts {sorted(_TOML_KEYWORDS | set(VOXEL_SETTINGS))}; use a PyRadiomics "
                "parameter file or dict for the other PyRadiomics settings"
            )
        path = None if params is None else os.fspath(params)
        if path is not None and preset is not None:
            raise Error("give either params (a parameter file) or preset, not both")
        bin_count = kwargs.get("binCount")
        if bin_count is not None and (isinstance(bin_count, bool) or not isinstance(bin_count, int) or bin_count < 1):
            raise ValueError(f"binCount must be a positive integer, got {bin_count!r}")
        toml, file_label = _native.radiomics_settings(
            preset,
            path,
            _opt_float(kwargs.get("binWidth"), "binWidth"),
            bin_count,
            _opt_float(kwargs.get("voxelArrayShift"), "voxelArrayShift"),
        )
        self._fixed_toml = toml
        self._source = preset or path or ""
        self.settings = {"label": 1 if file_label is None else file_label, "additionalInfo": False}
        self.settings.update(kwargs)
        for k in ("binWidth", "binCount", "voxelArrayShift"):
            self.settings.pop(k, None)  # already in the TOML
        _label(self.settings["label"])

    def _apply_params(self, params: Any) -> None:
        """PyRadiomics' `_applyParams`: the file's keys are checked by the crate's parser."""
        if params is None:
            params = {}
        if not isinstance(params, dict):
            raise Error(f"(top level): must be a map, found {type(params).__name__} (in {self._source})")
        voxel = params.pop("voxelSetting", None) or {}
        if not isinstance(voxel, dict):
            raise Error(f"voxelSetting: must be a map (in {self._source})")
        for k in voxel:
            if k not in VOXEL_SETTINGS:
                raise Error(f"voxelSetting.{k}: unknown voxel setting `{k}` (known: {', '.join(VOXEL_SETTINGS)}) (in {self._source})")
        # The file as written, through the same parser as `tomofuse radiomics --params`.
        _native.pyradiomics_params(_json(params), self._source)
        self.enabledImagetypes = dict(params.get("imageType") or {"Original": {}})
        self.enabledImagetypes = {k: (v or {}) for k, v in self.enabledImagetypes.items()}
        features = params.get("featureClass") or {}
        self.enabledFeatures = dict(features) if features else {c: [] for c in FEATURE_CLASSES}
        self.settings = _default_settings()
        self.settings.update(params.get("setting") or {})
        self.settings.update(voxel)

    def _params_doc(self) -> Dict[str, Any]:
        """The state in PyRadiomics' parameter schema (what the crate's parser reads)."""
        setting = {k: v for k, v in self.settings.items() if v is not None and k not in VOXEL_SETTINGS}
        features: Dict[str, Optional[List[str]]] = {}
        for c, names in self.enabledFeatures.items():
            # PyRadiomics computes no shape2D on 3D input without force2D (it logs a warning).
            if c == "shape2D" and not self.settings.get("force2D", False):
                continue
            features[c] = list(names) if names else None
        return {"imageType": self.enabledImagetypes, "featureClass": features, "setting": setting}

    def _settings_toml(self) -> str:
        if self._fixed_toml is not None:
            return self._fixed_toml
        text = _json(self._params_doc())
        if self._toml_cache[0] != text:
            toml, _ = _native.pyradiomics_params(text, self._source)
            self._toml_cache = (text, toml)
        return self._toml_cache[1]  # type: ignore[return-value]

    def _pyradiomics_mode(self, what: str) -> None:
        if self._fixed_toml is not None:
            raise Error(f"{what} changes PyRadiomics parameters; this extractor uses tomofuse settings ({self._source})")

    @property
    def label(self) -> int:
        return _label(self.settings.get("label", 1))

    @staticmethod
    def presets() -> List[str]:
        """Names of the shipped tomofuse presets."""
        return list(_native.radiomics_presets())

    # ---- PyRadiomics' configuration methods ----------------------------------------

    def addProvenance(self, provenance_on: bool = True) -> None:
        """Adds (or, with False, drops) the ``diagnostics_*`` entries."""
        self.settings["additionalInfo"] = provenance_on

    def loadParams(self, paramsFile: PathLike) -> None:
        self._pyradiomics_mode("loadParams")
        self._source = os.fspath(paramsFile)
        self._apply_params(json.loads(_native.yaml_file_to_json(self._source)))
        self._settings_toml()

    def loadJSONParams(self, JSON_configuration: str) -> None:
        self._pyradiomics_mode("loadJSONParams")
        self._source = "JSON parameters"
        self._apply_params(json.loads(JSON_configuration))
        self._settings_toml()

    def enableAllImageTypes(self) -> None:
        self._pyradiomics_mode("enableAllImageTypes")
        for t in IMAGE_TYPES:
            self.enabledImagetypes[t] = {}

    def disableAllImageTypes(self) -> None:
        self._pyradiomics_mode("disableAllImageTypes")
        self.enabledImagetypes = {}

    def enableImageTypeByName(self, imageType: str, enabled: bool = True, customArgs: Optional[Dict[str, Any]] = None) -> None:
        self._pyradiomics_mode("enableImageTypeByName")
        if imageType not in IMAGE_TYPES:
            raise Error(f"imageType.{imageType}: unknown image type `{imageType}` (known: {', '.join(IMAGE_TYPES)})")
        if enabled:
            self.enabledImagetypes[imageType] = {} if customArgs is None else dict(customArgs)
        else:
            self.enabledImagetypes.pop(imageType, None)

    def enableImageTypes(self, **enabledImagetypes: Dict[str, Any]) -> None:
        self._pyradiomics_mode("enableImageTypes")
        for t in enabledImagetypes:
            if t not in IMAGE_TYPES:
                raise Error(f"imageType.{t}: unknown image type `{t}` (known: {', '.join(IMAGE_TYPES)})")
        self.enabledImagetypes.update(enabledImagetypes)

    def enableAllFeatures(self) -> None:
        self._pyradiomics_mode("enableAllFeatures")
        for c in FEATURE_CLASSES:
            self.enabledFeatures[c] = []

    def disableAllFeatures(self) -> None:
        self._pyradiomics_mode("disableAllFeatures")
        self.enabledFeatures = {}

    def enableFeatureClassByName(self, featureClass: str, enabled: bool = True) -> None:
        self._pyradiomics_mode("enableFeatureClassByName")
        if featureClass not in FEATURE_CLASSES:
            raise Error(
                f"featureClass.{featureClass}: unknown feature class `{featureClass}` (known: {', '.join(FEATURE_CLASSES)})"
            )
        if enabled:
            self.enabledFeatures[featureClass] = []
        else:
            self.enabledFeatures.pop(featureClass, None)

    def enableFeaturesByName(self, **enabledFeatures: Optional[List[str]]) -> None:
        """``enableFeaturesByName(glcm=["Contrast"], firstorder=[])``: a list of names, or an
        empty list / None for the whole class; other classes stay as they are."""
        self._pyradiomics_mode("enableFeaturesByName")
        self.enabledFeatures.update(enabledFeatures)

    # ---- extraction ------------------------------------------------------------------

    def execute(
        self,
        imageFilepath: Any,
        maskFilepath: Any,
        label: Optional[int] = None,
        label_channel: Optional[int] = None,
        voxelBased: bool = False,
    ) -> "OrderedDict[str, Any]":
        """Features of the ROI ``mask == label`` (default: the ``label`` setting, 1).

        Image and mask: paths (NIfTI, NRRD, DICOM folder), ``tomofuse.Image`` or SimpleITK
        images on the same grid. Returns an ``OrderedDict``: first the ``diagnostics_*``
        entries (unless ``additionalInfo`` is False), then ``<imageType>_<class>_<Feature>``
        floats. NaN values carry a reason in ``last_details``; the provenance (settings TOML,
        input sha256) is in ``last_provenance``.

        ``voxelBased=True``: feature maps instead (``kernelRadius``, ``maskedKernel``,
        ``initValue`` from the settings), each a SimpleITK image when SimpleITK is installed,
        else a ``tomofuse.Image``, on PyRadiomics' grid (ROI bounding box padded by the
        kernel radius) with ``initValue`` outside the ROI and NaN where a feature is undefined.

        Diagnostics present (PyRadiomics' names; values are Python types, not numpy):
        ``Versions_tomofuse/_Numpy/_Python``, ``Configuration_Settings``,
        ``Configuration_EnabledImageTypes``, ``Image-original_Hash`` (sha256 of the file, or
        of voxels and geometry for in-memory images; PyRadiomics: SHA1 of the voxel buffer),
        ``Image-original_Dimensionality/_Spacing/_Size/_Mean/_Minimum/_Maximum``,
        ``Mask-original_Hash`` (as the image's), ``Mask-original_Spacing/_Size/_BoundingBox/
        _VoxelNum/_VolumeNum/_CenterOfMassIndex/_CenterOfMass``. Not present: PyRadiomics'
        ``Versions_PyRadiomics/_SimpleITK/_PyWavelet`` and the ``-interpolated``,
        ``-corrected`` and ``-resegmented`` entries (tomofuse neither resamples nor corrects
        masks; resegmentation is reported in the provenance settings).
        """
        if label_channel not in (None, 0):
            raise Error(f"label_channel {label_channel}: vector masks are not implemented (only channel 0)")
        lab = self.label if label is None else _label(label)
        toml = self._settings_toml()
        diag = bool(self.settings.get("additionalInfo", False))
        img, msk = _inputs(imageFilepath, maskFilepath)
        if voxelBased:
            return self._execute_voxel(img, msk, lab, toml, diag)
        if isinstance(img, str) and isinstance(msk, str):
            rows, prov, d = _native.radiomics_files(img, msk, lab, toml, diag)
        else:
            img, msk = _as_images(img, msk)
            rows, prov, d = _native.radiomics_arrays(
                img._f32_bytes("image"), img.shape, img._geom(), msk._f32_bytes("mask"), msk.shape, msk._geom(),
                lab, toml, diag,
            )
        self.last_provenance = json.loads(prov)
        self.last_details = [
            {"name": t, "value": v, "family": fam, "feature": name, "ibsi_code": code, "reason": reason}
            for (t, v, fam, name, code, reason) in rows
        ]
        out: "OrderedDict[str, Any]" = OrderedDict()
        if d is not None:
            out.update(self._diagnostics(d, lab))
        # The crate orders the keys as PyRadiomics does (shape first, classes in
        # `featureClass` order, features in PyRadiomics' `dir()` order).
        out.update((t, v) for (t, v, *_rest) in rows)
        return out

    def _voxel_settings(self) -> Tuple[int, bool, float]:
        s = {k: self.settings.get(k, v) for k, v in VOXEL_SETTINGS.items()}
        r = s["kernelRadius"]
        if isinstance(r, bool) or not isinstance(r, numbers.Integral) or r < 1:
            raise Error(f"kernelRadius must be an integer >= 1, got {r!r} (in {self._source})")
        if not isinstance(s["maskedKernel"], (bool, np.bool_)):
            raise Error(f"maskedKernel must be true or false, got {s['maskedKernel']!r} (in {self._source})")
        b = s["voxelBatch"]
        if isinstance(b, bool) or not isinstance(b, numbers.Integral) or b == 0:
            raise Error(f"voxelBatch must be a non-zero integer, got {b!r} (in {self._source})")
        return int(r), bool(s["maskedKernel"]), _opt_float(s["initValue"], "initValue")  # type: ignore[return-value]

    def _execute_voxel(self, img: Any, msk: Any, lab: int, toml: str, diag: bool) -> "OrderedDict[str, Any]":
        radius, masked, init = self._voxel_settings()
        if self._fixed_toml is None:
            others = [t for t in self.enabledImagetypes if t != "Original"]
            if others:
                raise Error(f"imageType.{others[0]}: voxel-based extraction of filtered images is not implemented (only Original)")
            if "Original" not in self.enabledImagetypes:
                raise Error("imageType: voxel-based extraction needs the Original image type")
            features = []
            for c, names in self.enabledFeatures.items():
                if c.startswith("shape"):
                    continue  # PyRadiomics computes no shape maps
                features += [f"{c}_{n}" for n in names] if names else [c]
        else:
            features = ["all"]
        if not features:
            raise Error("voxel-based extraction: no feature class with voxel maps is enabled")
        if isinstance(img, str) and isinstance(msk, str):
            maps, shape, geom, _lo, roi, d = _native.voxel_files(img, msk, lab, toml, radius, masked, features, diag)
        else:
            img, msk = _as_images(img, msk)
            maps, shape, geom, _lo, roi, d = _native.voxel_arrays(
                img._f32_bytes("image"), img.shape, img._geom(), msk._f32_bytes("mask"), msk.shape, msk._geom(),
                lab, toml, radius, masked, features, diag,
            )
        inside = np.frombuffer(roi, dtype=np.uint8).reshape(tuple(shape)).astype(bool)
        out: "OrderedDict[str, Any]" = OrderedDict()
        if d is not None:
            out.update(self._diagnostics(d, lab))
        sitk = _sitk()
        for name, data in maps:
            a = np.frombuffer(data, dtype=np.float32).reshape(tuple(shape)).copy()
            a[~inside] = init
            im = Image(a, geom["spacing"], geom["origin"], geom["direction"])
            out[f"original_{name}"] = im.to_sitk() if sitk is not None else im
        self.last_provenance = None
        self.last_details = []
        return out

    def _diagnostics(self, d: Dict[str, Any], lab: int) -> "OrderedDict[str, Any]":
        p = "diagnostics_"
        settings = dict(self.settings)
        settings["label"] = lab
        o: "OrderedDict[str, Any]" = OrderedDict()
        o[p + "Versions_tomofuse"] = _native.__version__
        o[p + "Versions_Numpy"] = np.__version__
        o[p + "Versions_Python"] = platform.python_version()
        o[p + "Configuration_Settings"] = settings
        o[p + "Configuration_EnabledImageTypes"] = copy.deepcopy(self.enabledImagetypes)
        o[p + "Image-original_Hash"] = d["image_hash"]
        o[p + "Image-original_Dimensionality"] = "3D"
        o[p + "Image-original_Spacing"] = tuple(d["image_spacing"])
        o[p + "Image-original_Size"] = tuple(d["image_size"])
        o[p + "Image-original_Mean"] = d["image_mean"]
        o[p + "Image-original_Minimum"] = d["image_minimum"]
        o[p + "Image-original_Maximum"] = d["image_maximum"]
        o[p + "Mask-original_Hash"] = d["mask_hash"]
        o[p + "Mask-original_Spacing"] = tuple(d["mask_spacing"])
        o[p + "Mask-original_Size"] = tuple(d["mask_size"])
        o[p + "Mask-original_BoundingBox"] = tuple(d["mask_bounding_box"])
        o[p + "Mask-original_VoxelNum"] = d["mask_voxel_num"]
        o[p + "Mask-original_VolumeNum"] = d["mask_volume_num"]
        o[p + "Mask-original_CenterOfMassIndex"] = tuple(d["mask_center_of_mass_index"])
        o[p + "Mask-original_CenterOfMass"] = tuple(d["mask_center_of_mass"])
        return o


def _sitk() -> Any:
    try:
        import SimpleITK as sitk  # noqa: N813
    except ImportError:
        return None
    return sitk


def _is_sitk_image(x: Any) -> bool:
    return type(x).__module__.startswith("SimpleITK") and hasattr(x, "GetSpacing")


def _inputs(image: Any, mask: Any) -> Tuple[Union[str, Image], Union[str, Image]]:
    def one(x: Any, what: str) -> Union[str, Image]:
        if isinstance(x, Image):
            return x
        if _is_sitk_image(x):
            return Image.from_sitk(x)
        if isinstance(x, (str, os.PathLike)):
            return os.fspath(x)
        raise ValueError(f"{what} must be a path, a tomofuse.Image or a SimpleITK image, got {type(x).__name__}")

    return one(image, "image"), one(mask, "mask")


def _as_images(img: Union[str, Image], msk: Union[str, Image]) -> Tuple[Image, Image]:
    img = img if isinstance(img, Image) else read(img)
    msk = msk if isinstance(msk, Image) else read(msk)
    if img.shape != msk.shape:
        raise ValueError(f"mask shape {msk.shape} differs from image shape {img.shape}")
    return img, msk


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
