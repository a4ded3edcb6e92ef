#!/usr/bin/env bash
# Install the Debian packages that diffradio's radios use, and let a virtualenv import the system SoapySDR.
#
# Usage: scripts/install-system-deps.sh [--gnuradio] [--browser] [VENV]
#   --gnuradio  also install GNU Radio (phy/gnuradio_reference.py, the flowgraphs in scripts/gnuradio and
#               their tests, the channel cross-check test)
#   --browser   also install Chromium (the headless browser test of rx --live, tests/test_live.py)
#   VENV        virtualenv to link SoapySDR into (default: .venv next to this repository's scripts/, if present)
#
# Idempotent: installs only missing packages (as root with apt-get; otherwise prints the apt-get command),
# and rewrites the venv link each time. The venv gets a directory holding symlinks to the system's
# SoapySDR.py and _SoapySDR*.so only, named by a .pth file, so the rest of /usr/lib/python3/dist-packages
# (system numpy etc.) stays out of the venv.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIST=/usr/lib/python3/dist-packages
PACKAGES=(libiio0 libiio-utils python3-soapysdr soapysdr-tools
          soapysdr-module-uhd soapysdr-module-lms7 soapysdr-module-hackrf soapysdr-module-rtlsdr)
VENV=""
for arg in "$@"; do
    case "$arg" in
        --gnuradio) PACKAGES+=(gnuradio) ;;
        --browser) PACKAGES+=(chromium) ;;
        -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        -*) echo "install-system-deps.sh: unknown option $arg (use --gnuradio, --browser or a venv path)" >&2; exit 2 ;;
        *) VENV="$arg" ;;
    esac
done
if [[ -z "$VENV" && -x "$ROOT/.venv/bin/python" ]]; then
    VENV="$ROOT/.venv"
fi

missing=()
for pkg in "${PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$pkg")
    fi
done
if ((${#missing[@]} == 0)); then
    echo "system packages: all present (${PACKAGES[*]})"
elif [[ $EUID -eq 0 ]] && command -v apt-get >/dev/null; then
    echo "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y --no-install-recommends "${missing[@]}" \
        || { apt-get update && apt-get install -y --no-install-recommends "${missing[@]}"; }
else
    echo "missing system packages; install them with:"
    echo "  sudo apt-get install -y --no-install-recommends ${missing[*]}"
fi

if [[ -z "$VENV" ]]; then
    echo "no virtualenv given or found at $ROOT/.venv: SoapySDR link skipped"
    exit 0
fi
PY="$VENV/bin/python"
if [[ ! -x "$PY" ]]; then
    echo "install-system-deps.sh: $VENV is not a virtualenv (no bin/python)" >&2
    exit 2
fi
VENV="$(cd "$VENV" && pwd)"  # the .pth entry must be absolute
suffix="$("$PY" -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))')"
site="$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
module="$DIST/_SoapySDR$suffix"
if [[ ! -f "$DIST/SoapySDR.py" || ! -f "$module" ]]; then
    echo "SoapySDR link skipped: $DIST has no SoapySDR.py / _SoapySDR$suffix for this venv's Python" \
         "(install python3-soapysdr; the venv must use the system's Python minor version)"
    exit 0
fi
link_dir="$VENV/system-soapysdr"
mkdir -p "$link_dir"
ln -sfn "$DIST/SoapySDR.py" "$link_dir/SoapySDR.py"
ln -sfn "$module" "$link_dir/_SoapySDR$suffix"
echo "$link_dir" > "$site/system_soapysdr.pth"
"$PY" -c 'import SoapySDR; print("venv imports SoapySDR", SoapySDR.getAPIVersion(), "from", SoapySDR.__file__)'
