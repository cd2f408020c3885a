"""Independent references for tomofuse-io tests (nibabel, pydicom + pylibjpeg-openjpeg).

Usage:
  io_reference.py nifti PATH...          -> JSON list of {path, shape, affine, dtype, slope, inter}
  io_reference.py stats PATH...          -> as nifti, plus min, max, sum (float64) of the scaled data
  io_reference.py dicom DIR I J K ...    -> JSON {hu: [...]} HU values at (i, j, k) voxel indices,
                                            slices sorted along the normal, i = column, j = row
  io_reference.py values PATH...         -> JSON list of {path, dtype, shape, values}: every scaled
                                            voxel (float64) in file order (i fastest)
  io_reference.py make DIR               -> writes NIfTI-1 files with nibabel's header writer and
                                            array_to_file: every datatype, both byte orders, with
                                            scl_slope/scl_inter, .nii and .nii.gz, plus one large
                                            big-endian int16 volume; prints JSON list of
                                            {path, dtype, endian, shape, slope, inter, scale}
                                            (raw value at (i,j,k): see pattern())
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


def pattern(shape, name):
    """Raw stored values, exactly representable in every type: base = (31 i + 17 j + 7 k) % 97,
    shifted to negative for signed types, spread over the high bytes for 32/64-bit integers,
    quarter steps for floats. The Rust tests compute the same formula."""
    import numpy as np

    i, j, k = np.meshgrid(*[np.arange(n, dtype=np.int64) for n in shape], indexing="ij")
    base = (i * 31 + j * 17 + k * 7) % 97
    signed = not name.startswith("u")
    if name.startswith("float"):
        return base.astype(np.float64) / 4.0 - 12.0
    v = base - 48 if signed else base
    if name.endswith("32"):
        v = v * 1_000_003
    if name.endswith("64"):
        v = v * 1_000_000_007_000
    return v


def make(d):
    import os

    import nibabel as nib
    import numpy as np
    from nibabel.openers import Opener
    from nibabel.volumeutils import array_to_file

    aff = np.array([[-0.8, 0.0, 0.0, 90.0], [0.0, 0.9, 0.0, -120.5], [0.0, 0.0, 2.5, -60.0], [0, 0, 0, 1.0]])
    cases = []
    for name in ["uint8", "int8", "int16", "uint16", "int32", "uint32", "int64", "uint64", "float32", "float64"]:
        for endian in "<>":
            slope, inter = (2.0, 1.0) if name.startswith("float") else (2.5, -10.0)
            cases.append((f"nb_{name}_{'be' if endian == '>' else 'le'}", name, endian, (7, 6, 5), slope, inter))
    # Several slabs (> 8 MiB) and gzip blocks, big-endian, no scaling.
    cases.append(("nb_big_int16_be", "int16", ">", (512, 256, 40), 1.0, 0.0))
    out = []
    for stem, name, endian, shape, slope, inter in cases:
        dt = np.dtype(name).newbyteorder(endian)
        raw = pattern(shape, name).astype(dt)
        for ext in ("nii", "nii.gz"):
            p = os.path.join(d, f"{stem}.{ext}")
            hdr = nib.Nifti1Header(endianness=endian)
            hdr.set_data_dtype(dt)
            hdr.set_data_shape(shape)
            hdr.set_sform(aff, code=1)
            hdr.set_qform(aff, code=1)
            hdr["scl_slope"], hdr["scl_inter"] = slope, inter
            hdr.set_data_offset(352)
            with Opener(p, "wb") as f:
                hdr.write_to(f)
                array_to_file(raw, f, dt, offset=352, order="F")
            img = nib.load(p)
            assert np.array_equal(np.asarray(img.dataobj.get_unscaled()), raw), p
            assert (img.dataobj.slope, img.dataobj.inter) == (slope, inter), p
            out.append({"path": p, "dtype": name, "endian": "big" if endian == ">" else "little",
                        "shape": list(shape), "slope": slope, "inter": inter})
    print(json.dumps(out))


def values(paths):
    import nibabel as nib
    import numpy as np

    out = []
    for p in paths:
        img = nib.load(p)
        arr = np.asarray(img.dataobj).astype(np.float64)
        out.append({"path": p, "dtype": str(img.get_data_dtype()), "shape": [int(s) for s in img.shape],
                    "values": arr.ravel(order="F").tolist()})
    print(json.dumps(out))


if __name__ == "__main__":
    if sys.argv[1] == "nifti":
        nifti(sys.argv[2:])
    elif sys.argv[1] == "stats":
        nifti(sys.argv[2:], stats=True)
    elif sys.argv[1] == "make":
        make(sys.argv[2])
    elif sys.argv[1] == "values":
        values(sys.argv[2:])
    elif sys.argv[1] == "dicom":
        dicom(sys.argv[2], [int(v) for v in sys.argv[3:]])
    else:
        sys.exit(f"unknown mode {sys.argv[1]}")
