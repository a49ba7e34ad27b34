#!/usr/bin/env bash
# Install the system packages mmrag's ingestion uses: Tesseract OCR with English and Korean data.
# With --with-browser also Chromium (/usr/bin/chromium), which the web page's test drives headless,
# and a CJK font so Korean renders in its screenshots.
# Idempotent (skips what is present), quiet, works as root or through sudo.
set -euo pipefail

PACKAGES=(tesseract-ocr tesseract-ocr-eng tesseract-ocr-kor)
for arg in "$@"; do
    case "$arg" in
        --with-browser) PACKAGES+=(chromium fonts-noto-cjk) ;;  # Korean text in screenshots
        *) echo "setup-system: unknown option $arg (known: --with-browser)" >&2; exit 2 ;;
    esac
done

missing=()
for pkg in "${PACKAGES[@]}"; do
    # dpkg-query prints "install ok installed" only for fully installed packages.
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$pkg")
    fi
done

if [ "${#missing[@]}" -eq 0 ]; then
    echo "setup-system: all present (${PACKAGES[*]})"
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "setup-system: need root (or sudo) to install: ${missing[*]}" >&2
        exit 1
    fi
fi

export DEBIAN_FRONTEND=noninteractive
echo "setup-system: installing ${missing[*]}"
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
tesseract --version 2>&1 | head -n 1
if command -v chromium >/dev/null 2>&1; then chromium --version 2>/dev/null | head -n 1 || true; fi
