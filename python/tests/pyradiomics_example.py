#!/usr/bin/env python
"""A PyRadiomics example in the style of PyRadiomics' ``examples/helloRadiomics.py``: keyword
settings, image types and feature classes enabled through the extractor's methods, one
``execute``, a loop over the result printing every key. It is written for PyRadiomics 3.0.1;
``test_pyradiomics_example.py`` runs it as it is and with only the import line changed to
``from tomofuse.radiomics import featureextractor``.

    python pyradiomics_example.py IMAGE MASK [--json OUT]
"""
from __future__ import print_function

import json
import sys

from radiomics import featureextractor


def main(argv):
    imageName, maskName = argv[1], argv[2]

    settings = {}
    settings['binWidth'] = 25
    settings['resampledPixelSpacing'] = None  # [3,3,3] is an example for defining resampling (voxels with size 3x3x3mm)
    settings['interpolator'] = 'sitkBSpline'
    settings['label'] = 1

    # Initialize feature extractor
    extractor = featureextractor.RadiomicsFeatureExtractor(**settings)

    # All feature classes, and the filtered images next to the original one
    extractor.enableAllFeatures()
    extractor.enableImageTypeByName('LoG', customArgs={'sigma': [1.0, 3]})
    extractor.enableImageTypeByName('Wavelet')
    extractor.enableImageTypes(Square={}, SquareRoot={}, Logarithm={}, Exponential={}, Gradient={})

    print("Calculating features")
    featureVector = extractor.execute(imageName, maskName)

    values = {}
    for featureName in featureVector.keys():
        print("Computed %s: %s" % (featureName, featureVector[featureName]))
        if not featureName.startswith('diagnostics_'):
            values[featureName] = float(featureVector[featureName])

    if len(argv) > 4 and argv[3] == '--json':
        with open(argv[4], 'w') as f:
            json.dump(values, f)


if __name__ == '__main__':
    main(sys.argv)
