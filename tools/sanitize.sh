#!/usr/bin/env bash
# Build fastconv with AddressSanitizer + UndefinedBehaviorSanitizer and run
# the tests that reach every kernel and every method under it. Exits non-zero
# on any sanitizer report (the process aborts at the first one) or failure.
#
# usage: tools/sanitize.sh [--build-only | --no-build] [pytest arguments,
#        replacing the default selection]
#   --build-only  build the sanitized wheel and its venv, run no test (CI
#                 builds while the plain test suite runs)
#   --no-build    run the tests on the build a --build-only run left
#
# Environment:
#   PYTHON                  interpreter with numpy, scipy, pytest, hypothesis
#                           (default: python)
#   FASTCONV_SANITIZE_DIR   work folder, reused by later runs (default: one
#                           per checkout, ${TMPDIR:-/tmp}/fastconv-sanitize-<hash
#                           of the checkout's path>)
#   CC                      compiler (gcc; its libasan is preloaded)
#
# How it works, and why:
# - `pip wheel` with -Db_sanitize=address,undefined; -Db_lundef=false because
#   the modules' sanitizer symbols come from the preloaded runtime;
#   -fno-sanitize-recover=all so UBSan aborts instead of printing and going
#   on; -Doptimization=1, which meson.build then uses for the kernels
#   (at -O3 gcc needs minutes per pooling module with both sanitizers).
# - Python itself is not instrumented, so libasan must come first in the
#   process: LD_PRELOAD. Leak detection is off: fastconv's modules never call
#   malloc themselves (all their memory is NumPy arrays and Python objects),
#   so a leak of theirs is a reference leak, which LSan cannot tell from the
#   allocations CPython and NumPy keep until exit by design (thousands of
#   reports); tools/leakcheck.py watches the resident memory instead.
# - The wheel goes into a throwaway venv that sees the caller's packages
#   (numpy, scipy, pytest) through a .pth file, but not an editable install
#   of fastconv, which would shadow the sanitized build.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
checkout_id="$(printf '%s' "$root" | cksum | cut -d' ' -f1)"
work="${FASTCONV_SANITIZE_DIR:-${TMPDIR:-/tmp}/fastconv-sanitize-$checkout_id}"
python="${PYTHON:-python}"
cc="${CC:-gcc}"
phase=all
case "${1:-}" in
    --build-only) phase=build; shift ;;
    --no-build) phase=test; shift ;;
esac
mkdir -p "$work"
# Two runs sharing a work folder would rebuild each other's files: the
# second waits for the first.
exec 9> "$work/.lock"
if command -v flock > /dev/null; then
    flock 9
fi

venv="$work/venv"
vpython="$venv/bin/python"
vsite_of() {
    "$vpython" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])'
}

if [ "$phase" != test ]; then
    echo "::: sanitizer build (ASan + UBSan) in $work"
    rm -rf "$work/wheel"
    isolation=()
    # Without build isolation when the build requirements are already there
    # (faster, works offline); else pip fetches them.
    if "$python" -c "import mesonpy, Cython" 2>/dev/null; then
        isolation=(--no-build-isolation)
    else
        # each isolated build gets a new temporary environment, whose paths
        # (NumPy's headers) a reused build folder would still point to
        rm -rf "$work/build"
    fi
    CC="$cc" "$python" -m pip wheel "$root" --no-deps -q "${isolation[@]}" -w "$work/wheel" \
        -Cbuild-dir="$work/build" \
        -Csetup-args=-Db_sanitize=address,undefined \
        -Csetup-args=-Db_lundef=false \
        -Csetup-args=-Doptimization=1 \
        "-Csetup-args=-Dc_args=-fno-sanitize-recover=all -fno-omit-frame-pointer -g1"

    rm -rf "$venv"
    "$python" -m venv --without-pip "$venv"
    vsite="$(vsite_of)"
    (cd "$work" && "$python" -c 'import os, sys
print("\n".join(p for p in sys.path if p and os.path.isdir(p)))') > "$vsite/caller-packages.pth"
    "$python" -m pip install -q --no-deps --target "$vsite" "$work"/wheel/fastconv-*.whl
    echo "::: sanitizer build done"
fi
if [ "$phase" = build ]; then
    exit 0
fi
if [ ! -x "$vpython" ]; then
    echo "sanitize.sh --no-build: no sanitized build in $work (run --build-only first)" >&2
    exit 2
fi
vsite="$(vsite_of)"

asan="$("$cc" -print-file-name=libasan.so)"
if [ ! -e "$asan" ]; then
    echo "sanitize.sh: $cc has no libasan.so ($asan)" >&2
    exit 2
fi
export LD_PRELOAD="$asan"
# allocator_may_return_null: tests of huge sizes expect a MemoryError, not an
# ASan abort; abort_on_error: a report kills the run with a non-zero status.
export ASAN_OPTIONS="detect_leaks=0:halt_on_error=1:abort_on_error=1:allocator_may_return_null=1"
export UBSAN_OPTIONS="halt_on_error=1:abort_on_error=1:print_stacktrace=1"
# (exported: the tests' subprocesses run under the sanitizers too)

cd "$work"  # never import the source tree
"$vpython" - "$vsite" <<'EOF'
import os, sys
import fastconv, fastconv._kernels._direct as _direct
site = os.path.realpath(sys.argv[1])
where = os.path.realpath(_direct.__file__)
assert where.startswith(site + os.sep), f"imported {where}, not the sanitized build in {site}"
with open("/proc/self/maps") as f:
    assert "libasan" in f.read(), "libasan is not loaded"
print(f"sanitized fastconv: {os.path.dirname(where)} (SIMD level {_direct.simd_level()})")
EOF

tests="$root/tests"
if [ "$#" -gt 0 ]; then
    selection=("$@")
else
    # Every kernel and every method: direct (every dtype and boundary, every
    # SIMD level, streamed outputs), separable, fft, im2col, pooling (every op, indices),
    # adaptive pooling, threads, validation. Left out: the reference
    # implementations' own tests, docstrings, installation checks, the
    # method chooser's timings and the Hypothesis properties, which reach no
    # kernel code the files below do not. About 4 minutes on 2 busy cores.
    selection=(
        "$tests/test_convolve.py" "$tests/test_simd_levels.py" "$tests/test_separable.py"
        "$tests/test_fft.py" "$tests/test_im2col.py" "$tests/test_pool.py"
        "$tests/test_adaptive_pool.py" "$tests/test_threads.py" "$tests/test_validation.py"
        "$tests/test_road.py" "$tests/test_pool_out.py" "$tests/test_nn.py" "$tests/test_calls.py"
        "$tests/test_stream.py" "$tests/test_layer_kernel.py"
    )
fi
echo "::: tests under ASan + UBSan"
# PyTorch's parity tests are left out: the other tests reach the same kernels,
# and PyTorch under a preloaded ASan is not what is being checked.
"$vpython" -m pytest -c "$root/pyproject.toml" --rootdir "$root" -p no:cacheprovider \
    -q -x -k "not torch" "${selection[@]}"
echo "::: sanitizers: no report"
