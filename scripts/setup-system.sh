#!/usr/bin/env bash
# System packages the tests need and PyPI cannot provide: Debian's Chromium (Playwright drives
# it; Playwright's own browser download cannot work offline) and a CJK font so Chinese text
# renders as text, not boxes. Installs them with apt when run as root and they are missing.
set -euo pipefail

need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
fc-list 2>/dev/null | grep -qi "Noto Sans CJK" || need+=(fonts-noto-cjk)

if [ ${#need[@]} -eq 0 ]; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "setup-system: missing ${need[*]}; install them with: sudo apt-get install ${need[*]}" >&2
    exit 1
fi
echo "setup-system: installing ${need[*]} with apt-get" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" fontconfig >/dev/null
