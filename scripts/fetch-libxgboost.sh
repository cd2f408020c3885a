#!/usr/bin/env bash
# Put libxgboost 3.4.1 (from the PyPI wheel xgboost-cpu==3.4.1, the library the `xgb` crate
# wraps) into third_party/lib, where .cargo/config.toml points XGBOOST_LIB_DIR. Idempotent: a
# complete install is left alone. Needs only Python with pip (PyPI).
#
# Layout (the wheel's own, so libxgboost's RPATH $ORIGIN/../../xgboost_cpu.libs finds its
# bundled OpenMP runtime without patching the binary):
#   third_party/lib/xgboost/lib/libxgboost.so
#   third_party/lib/xgboost_cpu.libs/libgomp-*.so.1.0.0
#   third_party/lib/xgboost/lib/libxgboost.so.3 -> libxgboost.so  (run time: the SONAME; binaries
#                                   get an rpath to this folder, so $ORIGIN stays the real one)
#   third_party/lib/libxgboost.so   -> xgboost/lib/libxgboost.so  (link time: XGBOOST_LIB_DIR)
set -euo pipefail

VERSION="3.4.1"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEST="$ROOT/third_party/lib"
STAMP="$DEST/.xgboost-cpu-$VERSION"
PY="${PYTHON:-python3}"

if [[ -f "$STAMP" && -e "$DEST/xgboost/lib/libxgboost.so.3" && -e "$DEST/libxgboost.so" ]]; then
    echo "libxgboost $VERSION already in $DEST"
    exit 0
fi

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

"$PY" -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 \
    --platform manylinux_2_28_x86_64 "xgboost-cpu==$VERSION" -d "$TMP"
WHEEL="$(ls "$TMP"/xgboost_cpu-"$VERSION"-*.whl)"

rm -rf "$DEST"
mkdir -p "$DEST"
# A wheel is a zip: extract only the shared libraries with Python's zipfile (no unzip needed).
"$PY" - "$WHEEL" "$DEST" <<'PYEOF'
import sys, zipfile
wheel, dest = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as z:
    names = [n for n in z.namelist()
             if n == "xgboost/lib/libxgboost.so" or n.startswith("xgboost_cpu.libs/")]
    if "xgboost/lib/libxgboost.so" not in names:
        sys.exit(f"{wheel} holds no xgboost/lib/libxgboost.so")
    for n in names:
        z.extract(n, dest)
PYEOF
ln -sf xgboost/lib/libxgboost.so "$DEST/libxgboost.so"
ln -sf libxgboost.so "$DEST/xgboost/lib/libxgboost.so.3"
touch "$STAMP"
echo "libxgboost $VERSION installed in $DEST"
