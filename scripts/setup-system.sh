#!/usr/bin/env bash
# System packages the tests need and PyPI cannot provide: Debian's Chromium (Playwright drives
# it; Playwright's own browser download cannot work offline), a CJK font so Chinese text
# renders as text, not boxes, and PostgreSQL with PostGIS (the database tests start their own
# throwaway server from these binaries: tests/pg.py), and Node.js with npm (Biome lints the
# map's script and node's test runner tests its decoder: tests/test_js.py), and poppler-utils
# (pdftotext, pdftoppm: tests/test_notice.py and the map's print test read the PDFs). Installs them with
# apt when run as root and they are missing. With --fonts, only the CJK font (make demo's
# notice package).
set -euo pipefail

need=()
# no grep -q: it would stop reading, and fc-list's SIGPIPE fails the pipe under pipefail
fc-list 2>/dev/null | grep -i "Noto Sans CJK" >/dev/null || need+=(fonts-noto-cjk)
postgis=no
if [ "${1:-}" != "--fonts" ]; then  # --fonts (make demo): the CJK font the report embeds, only
    command -v chromium >/dev/null 2>&1 || need+=(chromium)
    command -v node >/dev/null 2>&1 || need+=(nodejs)
    command -v npm >/dev/null 2>&1 || need+=(npm)
    command -v pdftoppm >/dev/null 2>&1 || need+=(poppler-utils)
    ls /usr/share/postgresql/*/extension/postgis.control >/dev/null 2>&1 || postgis=yes
fi

if [ ${#need[@]} -eq 0 ] && [ "$postgis" = no ]; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "setup-system: missing ${need[*]} ${postgis/yes/postgresql postgis}; install them" \
        "with sudo apt-get install (PostGIS: postgresql-<major>-postgis-3)" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
if [ "$postgis" = yes ]; then
    # PostGIS for the server version Debian installs: postgresql-<major>-postgis-3
    major=$(apt-cache depends postgresql | sed -n 's/.*Depends: postgresql-\([0-9][0-9]*\)$/\1/p' | head -1)
    need+=(postgresql "postgresql-${major}-postgis-3")
fi
echo "setup-system: installing ${need[*]} with apt-get" >&2
apt-get install -y -qq --no-install-recommends "${need[@]}" fontconfig >/dev/null
