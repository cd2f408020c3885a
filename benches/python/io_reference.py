"""Independent references for tomofuse-io tests (nibabel, pydicom + pylibjpeg-openjpeg).

Usage:
  io_reference.py nifti PATH...          -> JSON list of {path, shape, affine, dtype, slope, inter}
  io_reference.py stats PATH...          -> as nifti, plus min, max, sum (float64) of the scaled data
  io_reference.py dicom DIR I J K ...    -> JSON {hu: [...]} HU values at (i, j, k) voxel indices,
                                            slices sorted along the normal, i = column, j = row
"""
import json
import sys


def nifti(paths, stats=False):
    import nibabel as nib
    import numpy as np

    out = []
    for p in paths:
        img = nib.load(p)
        # nibabel moves scl_slope/scl_inter from the header to the array proxy on load
        slope, inter = img.dataobj.slope, img.dataobj.inter
        out.append({
            "path": p,
            "shape": [int(s) for s in img.shape],
            "affine": img.affine.tolist(),
            "dtype": str(img.get_data_dtype()),
            "slope": float(slope),
            "inter": float(inter),
        })
        if stats:
            data = np.asarray(img.get_fdata(dtype=np.float64))
            out[-1].update({"min": float(data.min()), "max": float(data.max()), "sum": float(data.sum())})
    print(json.dumps(out))


def dicom(d, idx):
    import glob
    import os

    import numpy as np
    import pydicom

    ds = []
    for f in sorted(glob.glob(os.path.join(d, "*"))):
        try:
            x = pydicom.dcmread(f)
        except Exception:
            continue
        if "PixelData" in x:
            ds.append(x)
    iop = np.array(ds[0].ImageOrientationPatient, dtype=float)
    normal = np.cross(iop[:3], iop[3:])
    ds.sort(key=lambda x: float(np.dot(normal, np.array(x.ImagePositionPatient, dtype=float))))
    hu = []
    for i, j, k in zip(idx[0::3], idx[1::3], idx[2::3]):
        x = ds[k]
        arr = x.pixel_array  # rows x cols
        v = float(arr[j, i]) * float(getattr(x, "RescaleSlope", 1)) + float(getattr(x, "RescaleIntercept", 0))
        hu.append(v)
    print(json.dumps({"hu": hu, "n_slices": len(ds), "transfer_syntax": str(ds[0].file_meta.TransferSyntaxUID)}))


if __name__ == "__main__":
    if sys.argv[1] == "nifti":
        nifti(sys.argv[2:])
    elif sys.argv[1] == "stats":
        nifti(sys.argv[2:], stats=True)
    elif sys.argv[1] == "dicom":
        dicom(sys.argv[2], [int(v) for v in sys.argv[3:]])
    else:
        sys.exit(f"unknown mode {sys.argv[1]}")
