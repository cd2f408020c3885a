#!/usr/bin/env bash
# libclang for bindgen (xgboost_lib-sys generates its bindings at build time). A system
# libclang is used when one is installed (llvm-config or a libclang.so in the usual places);
# otherwise libclang 18.1.1 is unpacked from its PyPI wheel into third_party/libclang.
# Either way third_party/libclang/libclang.so exists afterwards, and .cargo/config.toml points
# LIBCLANG_PATH there, so cargo never depends on the user's environment. Idempotent.
#
# The wheel's libclang has no resource directory, so it lacks the compiler's freestanding
# headers (stddef.h, stdarg.h, ...) that glibc's headers expect. third_party/libclang/include
# links them from the C compiler already on the machine (gcc's, which every crate with C code
# needs anyway); .cargo/config.toml puts that folder on C_INCLUDE_PATH (a system include
# folder for C; gcc finds its own headers there unchanged).
set -euo pipefail

VERSION="18.1.1"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEST="$ROOT/third_party/libclang"
PY="${PYTHON:-python3}"

mkdir -p "$DEST/include"
CC_INCLUDE="$("${CC:-gcc}" -print-file-name=include 2>/dev/null || true)"
if [[ -z "$CC_INCLUDE" || ! -e "$CC_INCLUDE/stddef.h" ]]; then
    echo "fetch-libclang: no C compiler headers found (\`gcc -print-file-name=include\`); install gcc" >&2
    exit 1
fi
for h in stddef.h stdarg.h stdbool.h float.h stdalign.h stdnoreturn.h; do
    [[ -e "$CC_INCLUDE/$h" ]] && ln -sfn "$CC_INCLUDE/$h" "$DEST/include/$h"
done

if [[ -e "$DEST/libclang.so" ]]; then
    echo "libclang already in $DEST ($(readlink -f "$DEST/libclang.so"))"
    exit 0
fi

# A system libclang, if there is one: link to it instead of downloading 25 MB.
sys=""
if command -v llvm-config >/dev/null 2>&1 && [[ -e "$(llvm-config --libdir)/libclang.so" ]]; then
    sys="$(llvm-config --libdir)/libclang.so"
else
    # libclang (the C API bindgen loads), never libclang-cpp (the C++ API, a different library).
    for cand in /usr/lib/llvm-*/lib/libclang.so /usr/lib/llvm-*/lib/libclang.so.[0-9]* \
                /usr/lib/x86_64-linux-gnu/libclang-[0-9]*.so.[0-9]* /usr/lib64/libclang.so; do
        [[ -e "$cand" ]] && sys="$cand" && break
    done
fi
if [[ -n "$sys" ]]; then
    ln -sf "$sys" "$DEST/libclang.so"
    echo "libclang: using the system's $sys"
    exit 0
fi

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
"$PY" -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
    --platform manylinux2010_x86_64 "libclang==$VERSION" -d "$TMP"
WHEEL="$(ls "$TMP"/libclang-"$VERSION"-*.whl)"
"$PY" - "$WHEEL" "$DEST" <<'PYEOF'
import sys, zipfile, shutil, os
wheel, dest = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as z:
    name = next((n for n in z.namelist() if n.endswith("clang/native/libclang.so")), None)
    if name is None:
        sys.exit(f"{wheel} holds no clang/native/libclang.so")
    tmp = os.path.join(dest, "libclang.so.part")
    with z.open(name) as src, open(tmp, "wb") as out:
        shutil.copyfileobj(src, out)
    os.replace(tmp, os.path.join(dest, "libclang.so"))
PYEOF
echo "libclang $VERSION installed in $DEST (from its PyPI wheel)"
