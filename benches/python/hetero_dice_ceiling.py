"""Dice ceiling of a heterogeneous export (`tomofuse cohort export --heterogeneous`).

Each case's native reference mask (from a plain export of the same cohort) is carried onto the
case's heterogeneous grid twice, with the affines of both files: by trilinear interpolation and
a 0.5 threshold (an ideal smooth segmentation of the same anatomy) and by nearest neighbour
(a check of the geometry, near 1). The first is scored against the exported reference mask
of that grid. On the native grid both are exactly 1; on the heterogeneous grids the first is
the best Dice any segmentation can reach against masks discretised on those grids.

    tomofuse cohort export --config experiments/sap-multimodal.toml --out nat-sap
    tomofuse cohort export --config experiments/sap-multimodal.toml --heterogeneous --out het-sap
    python3 benches/python/hetero_dice_ceiling.py nat-sap het-sap [STRIDE] [--labels 1,2]

`--labels` names the target labels (the config's `cohort.target_labels`; SAP's are 1 and 2,
pancreas and necrosis); without it every non-zero label is the target.
"""

import csv
import sys

import nibabel as nib
import numpy as np
from scipy.ndimage import map_coordinates


def dice(x, y):
    return 2.0 * (x & y).sum() / max(x.sum() + y.sum(), 1)


def target(arr, labels):
    return np.isin(arr, labels) if labels else arr > 0


def main(nat, het, stride=1, labels=None):
    native = {r["case_id"]: r for r in csv.DictReader(open(f"{nat}/manifest.csv"))}
    rows = list(csv.DictReader(open(f"{het}/manifest.csv")))[::stride]
    smooth, nearest = [], []
    for r in rows:
        mn = nib.load(f"{nat}/{native[r['case_id']]['mask']}")
        mh = nib.load(f"{het}/{r['mask']}")
        a = target(np.asarray(mn.dataobj), labels).astype(np.float32)
        ref = target(np.asarray(mh.dataobj), labels)
        ijk = np.indices(ref.shape).reshape(3, -1)
        m = np.linalg.inv(mn.affine) @ mh.affine
        src = m[:3, :3] @ ijk + m[:3, 3:4]
        lin = map_coordinates(a, src, order=1, mode="constant").reshape(ref.shape) > 0.5
        nn = map_coordinates(a, src, order=0, mode="constant").reshape(ref.shape) > 0.5
        smooth.append(dice(lin, ref))
        nearest.append(dice(nn, ref))
    print(
        f"{het}: {len(rows)} cases; Dice ceiling (smooth native anatomy vs exported reference) "
        f"mean {np.mean(smooth):.3f} (min {np.min(smooth):.3f}); nearest-neighbour geometry check "
        f"{np.mean(nearest):.3f}"
    )


if __name__ == "__main__":
    argv = sys.argv[1:]
    lab = None
    if "--labels" in argv:
        i = argv.index("--labels")
        lab = [int(x) for x in argv[i + 1].split(",")]
        del argv[i : i + 2]
    main(argv[0], argv[1], int(argv[2]) if len(argv) > 2 else 1, lab)
