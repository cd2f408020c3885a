"""tomofuse from Python: CT image IO and resampling with numpy arrays, IBSI and
PyRadiomics-compatible radiomics, and clinical statistics, all computed by the tomofuse Rust
crates (``tomofuse._native``); this package only adapts types.

    import tomofuse
    img = tomofuse.read("ct.nii.gz")          # img.array[i, j, k], float32
    iso = tomofuse.resample(img, spacing=(1, 1, 1), interp="bspline")
    from tomofuse.radiomics import featureextractor
    feats = featureextractor.RadiomicsFeatureExtractor().execute("ct.nii.gz", "mask.nii.gz")
    tomofuse.stats.roc_auc(y, score, ci="delong")
"""

from . import stats
from ._image import Image, read, resample, write
from ._native import __version__
from .errors import Error

__all__ = ["Error", "Image", "read", "write", "resample", "stats", "__version__"]
