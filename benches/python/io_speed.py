#!/usr/bin/env python3
"""Side-by-side NIfTI read/write speed: tomofuse-io (examples/io_time) vs SimpleITK
(ReadImage/WriteImage) and nibabel (load + np.asarray(img.dataobj), save), in one run with a
warm page cache, on synthetic 512x512x160 CT-like volumes (int16 and float32) written by nibabel
to a temporary folder as .nii and .nii.gz. Every time is the median of --repeats runs (default 5);
the ratio is tomofuse / peer (< 1: tomofuse faster).

What each side returns differs, and the table says so: tomofuse reads into f32 (scaled) in its
C layout (one transposing pass), SimpleITK and nibabel keep the stored type in file order.
Written .nii.gz sizes are printed too, since the compression level sets the write time.

Every file lives in a folder of its own: asked for X.nii.gz, SimpleITK's NIfTI reader (niftilib)
reads X.nii instead when that file exists beside it, so a shared folder times an uncompressed read
under the .nii.gz name (this script's runs before 2026-12-07 did: SimpleITK's "gz read" was 0.1 s
where inflating takes 0.27 s).

Two more cases, with --cli (a tomofuse binary; default target/release/tomofuse, else debug):
- a 512x512x300 int16 DICOM series (one file per slice, uncompressed, written by SimpleITK): read
  by tomofuse, SimpleITK's ImageSeriesReader and pydicom (dcmread every file, sort by position,
  stack the pixel arrays);
- the whole resample command: `tomofuse resample IN OUT --spacing 1,1,1` (a process: start, read,
  resample linearly on the ITK grid, write) against SimpleITK's ReadImage + Resample + WriteImage
  in this process, .nii -> .nii and .nii.gz -> .nii.gz. Both write int16 (`--dtype input`;
  tomofuse's default output is float32, twice the bytes).

Usage: io_speed.py [--bin PATH_TO_io_time] [--cli PATH_TO_tomofuse] [--before OLD_io_time] [--threads 2]
                   [--repeats 5] [--json OUT.json] [--no-dicom] [--no-resample]
Build first:  CARGO_TARGET_DIR=... cargo build --release -p tomofuse-io --example io_time
(--before: the same example built from an older commit, for before/after in one run.)
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import nibabel as nib
import numpy as np
import SimpleITK as sitk

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
SHAPE = (512, 512, 160)
SPACING = (0.7, 0.7, 2.5)


def phantom(dtype):
    """CT-like values (HU): air, an elliptical body of soft tissue with two lungs and a bony
    ring, plus Gaussian noise, so gzip sees realistic redundancy (not a constant, not noise)."""
    rng = np.random.default_rng(20261206)
    ni, nj, nk = SHAPE
    x = (np.arange(ni) - ni / 2)[:, None] / (ni * 0.42)
    y = (np.arange(nj) - nj / 2)[None, :] / (nj * 0.32)
    r = x * x + y * y
    plane = np.full((ni, nj), -1000.0)
    plane[r < 1.0] = 40.0
    plane[(r < 1.0) & (r > 0.85)] = 700.0
    for cx in (-0.45, 0.45):
        plane[((x - cx) ** 2 / 0.12 + y * y / 0.5) < 1.0] = -850.0
    vol = np.empty(SHAPE, dtype=np.float32)
    for k in range(nk):
        vol[:, :, k] = plane * (1.0 + 0.05 * np.sin(k / 20.0))
    vol += rng.normal(0.0, 15.0, size=SHAPE).astype(np.float32)
    return np.clip(np.rint(vol), -1024, 3071).astype(dtype)


def make_inputs(tmp):
    aff = np.diag([-SPACING[0], -SPACING[1], SPACING[2], 1.0])
    aff[:3, 3] = [180.0, 200.0, -300.0]
    files = []
    for name, dtype in [("int16", np.int16), ("float32", np.float32)]:
        img = nib.Nifti1Image(phantom(dtype), aff)
        img.header.set_data_dtype(dtype)
        img.header.set_slope_inter(1.0, 0.0)
        for ext in ("nii", "nii.gz"):
            # A folder per file: see the module docstring (niftilib's .nii preference).
            d = os.path.join(tmp, f"{name}-{ext.replace('.', '-')}")
            os.makedirs(os.path.join(d, "out"))
            p = os.path.join(d, f"ct_{name}.{ext}")
            nib.save(img, p)
            files.append((name, ext, p))
    return files


def make_dicom_series(folder, nk=300):
    """512x512xnk int16 CT series, uncompressed explicit VR little endian, one file per slice."""
    vol = phantom(np.int16)
    reps = -(-nk // vol.shape[2])
    arr = np.concatenate([vol] * reps, axis=2)[:, :, :nk]
    img = sitk.GetImageFromArray(np.ascontiguousarray(arr.transpose(2, 1, 0)))
    img.SetSpacing((SPACING[0], SPACING[1], 1.25))
    img.SetOrigin((-180.0, -200.0, -300.0))
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    series = "1.2.826.0.1.3680043.2.1125.20261207.1"
    common = [("0008|0060", "CT"), ("0020|000e", series), ("0020|000d", series + ".0"),
              ("0020|0037", "1\\0\\0\\0\\1\\0"), ("0008|0016", "1.2.840.10008.5.1.4.1.1.2"),
              ("0028|1052", "0"), ("0028|1053", "1")]
    for k in range(nk):
        sl = img[:, :, k]
        for tag, val in common:
            sl.SetMetaData(tag, val)
        pos = img.TransformIndexToPhysicalPoint((0, 0, k))
        sl.SetMetaData("0020|0032", "\\".join(f"{v:.4f}" for v in pos))
        sl.SetMetaData("0020|0013", str(k + 1))
        sl.SetMetaData("0008|0018", f"{series}.{k + 1}")
        writer.SetFileName(os.path.join(folder, f"slice{k:04d}.dcm"))
        writer.Execute(sl)


def read_series_sitk(folder):
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(folder))
    return reader.Execute()


def read_series_pydicom(folder):
    import pydicom
    ds = [pydicom.dcmread(os.path.join(folder, f)) for f in os.listdir(folder)]
    ds.sort(key=lambda d: float(d.ImagePositionPatient[2]))
    return np.stack([d.pixel_array for d in ds])


def command_time(cmd, env, repeats):
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run(cmd, env=env, check=True, capture_output=True)
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


def sitk_resample(src, out):
    img = sitk.ReadImage(src)
    sp = img.GetSpacing()
    size = [int(round(n * s / 1.0)) for n, s in zip(img.GetSize(), sp)]
    r = sitk.Resample(img, size, sitk.Transform(), sitk.sitkLinear, img.GetOrigin(), (1.0, 1.0, 1.0),
                      img.GetDirection(), 0.0, img.GetPixelID())
    sitk.WriteImage(r, out)


def median_time(fn, repeats):
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


def ours(binary, args, env):
    out = subprocess.run([binary, *args], env=env, check=True, capture_output=True, text=True).stdout
    return json.loads(out)["median_s"]


def main():
    ap = argparse.ArgumentParser()
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    ap.add_argument("--bin", default=os.path.join(target, "release", "examples", "io_time"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--cli", default=None, help="tomofuse binary for the resample command")
    ap.add_argument("--no-dicom", action="store_true", help="skip the DICOM series case")
    ap.add_argument("--no-resample", action="store_true", help="skip the resample command case")
    ap.add_argument("--before", help="an io_time built from an older tomofuse, timed as 'tomofuse before'")
    ap.add_argument("--json", help="also write the figures here")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = ap.parse_args()
    if not os.path.exists(args.bin):
        sys.exit(f"{args.bin} not found: cargo build --release -p tomofuse-io --example io_time")
    cli = args.cli
    if cli is None:
        target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
        cli = next((p for p in (os.path.join(target, "release", "tomofuse"), os.path.join(target, "debug", "tomofuse"))
                    if os.path.exists(p)), None)
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(args.threads)
    env = dict(os.environ, RAYON_NUM_THREADS=str(args.threads))
    tmp = tempfile.mkdtemp(prefix="io_speed_")
    rows, extra = [], []
    try:
        files = make_inputs(tmp)
        n = args.repeats
        for name, ext, path in files:
            # Warm the page cache and every reader once.
            sitk.ReadImage(path)
            np.asarray(nib.load(path, mmap=False).dataobj)
            ours(args.bin, ["read", path, "1"], env)
            r = {}
            if args.before:
                ours(args.before, ["read", path, "1"], env)
                r["read before"] = ours(args.before, ["read", path, str(n)], env)
            r.update({
                "read tomofuse": ours(args.bin, ["read", path, str(n)], env),
                "read SimpleITK": median_time(lambda: sitk.ReadImage(path), n),
                # mmap=False: really read (an uncompressed file is memory-mapped otherwise).
                "read nibabel": median_time(lambda: np.asarray(nib.load(path, mmap=False).dataobj), n),
            })
            out = os.path.join(os.path.dirname(path), "out", f"out.{ext}")
            if args.before:
                r["write before"] = ours(args.before, ["write", path, out, str(n)], env)
            r["write tomofuse"] = ours(args.bin, ["write", path, out, str(n)], env)
            size_ours = os.path.getsize(out)
            img = sitk.ReadImage(path)
            r["write SimpleITK"] = median_time(lambda: sitk.WriteImage(img, out), n)
            size_sitk = os.path.getsize(out)
            nimg = nib.load(path)
            arr = np.asarray(nimg.dataobj)
            nimg2 = nib.Nifti1Image(arr, nimg.affine, nimg.header)
            r["write nibabel"] = median_time(lambda: nib.save(nimg2, out), n)
            size_nib = os.path.getsize(out)
            written = {"tomofuse": size_ours, "SimpleITK": size_sitk, "nibabel": size_nib}
            if args.before:
                ours(args.before, ["write", path, out, "1"], env)
                written["before"] = os.path.getsize(out)
            rows.append({"dtype": name, "ext": ext, "times_s": r, "written_bytes": written})
        if not args.no_dicom:
            folder = os.path.join(tmp, "dicom")
            os.makedirs(folder)
            make_dicom_series(folder)
            a = read_series_sitk(folder)
            b = ours(args.bin, ["read", folder, "1"], env)
            read_series_pydicom(folder)
            extra.append({"case": "int16 DICOM 512x512x300", "op": "read",
                          "tomofuse": ours(args.bin, ["read", folder, str(n)], env),
                          "SimpleITK": median_time(lambda: read_series_sitk(folder), n),
                          "pydicom": median_time(lambda: read_series_pydicom(folder), n)})
            del a, b
        if not args.no_resample and cli:
            for ext in ("nii", "nii.gz"):
                src = next(p for nm, e, p in files if nm == "int16" and e == ext)
                out = os.path.join(os.path.dirname(src), "out", f"resampled.{ext}")
                cmd = [cli, "resample", src, out, "--spacing", "1,1,1", "--interp", "linear", "--dtype", "input"]
                subprocess.run(cmd, env=env, check=True, capture_output=True)
                extra.append({"case": f"int16 .{ext} -> 1 mm", "op": "resample command",
                              "tomofuse": command_time(cmd, env, n),
                              "SimpleITK": median_time(lambda: sitk_resample(src, out), n)})
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    load = os.getloadavg()
    if not args.no_resample and not cli:
        print("resample command: no tomofuse binary (--cli), not timed")
    print(f"512x512x160 synthetic CT, {args.threads} threads, median of {args.repeats}, "
          f"SimpleITK {sitk.Version.VersionString()}, nibabel {nib.__version__}, load average {load[0]:.2f}")
    before = f"{'before':>9s} " if args.before else ""
    print(f"{'case':16s} {'op':5s} {before}{'tomofuse':>9s} {'SimpleITK':>9s} {'nibabel':>9s} "
          f"{'/SimpleITK':>10s} {'/nibabel':>9s}" + (f" {'before/SITK':>11s}" if args.before else ""))
    for row in rows:
        t = row["times_s"]
        case = f"{row['dtype']} .{row['ext']}"
        for op in ("read", "write"):
            a, s, b = t[f"{op} tomofuse"], t[f"{op} SimpleITK"], t[f"{op} nibabel"]
            row[f"{op}_ratio_sitk"], row[f"{op}_ratio_nibabel"] = a / s, a / b
            old = t.get(f"{op} before")
            col = f"{old:9.3f} " if old is not None else ""
            tail = f" {old / s:11.2f}" if old is not None else ""
            print(f"{case:16s} {op:5s} {col}{a:9.3f} {s:9.3f} {b:9.3f} {a / s:10.2f} {a / b:9.2f}{tail}")
        if row["ext"] == "nii.gz":
            w = row["written_bytes"]
            print(f"{'':16s} gz bytes: tomofuse {w['tomofuse'] / 1e6:.1f} MB, SimpleITK {w['SimpleITK'] / 1e6:.1f} MB, "
                  f"nibabel {w['nibabel'] / 1e6:.1f} MB" + (f", before {w['before'] / 1e6:.1f} MB" if "before" in w else ""))
    for e in extra:
        peers = [k for k in ("SimpleITK", "pydicom") if k in e]
        cells = "  ".join(f"{k} {e[k]:.3f}" for k in peers)
        ratios = "  ".join(f"/{k} {e['tomofuse'] / e[k]:.2f}" for k in peers)
        print(f"{e['case']:24s} {e['op']:16s} tomofuse {e['tomofuse']:.3f}  {cells}  {ratios}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"threads": args.threads, "repeats": args.repeats, "load_average": load, "rows": rows,
                       "extra": extra}, f,
                      indent=1)


if __name__ == "__main__":
    main()
