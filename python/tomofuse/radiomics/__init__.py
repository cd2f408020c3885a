"""PyRadiomics-style radiomics on tomofuse: ``from tomofuse.radiomics import featureextractor``."""

from . import featureextractor

__all__ = ["featureextractor"]
