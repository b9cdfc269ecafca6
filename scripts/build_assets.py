"""Build Peel's front-end assets from the npm packages installed by `npm ci`.

Compiles src/peel/web/scss/peel.scss with dart-sass and copies the files Peel
serves from govuk-frontend and Leaflet into src/peel/web/static/vendor/, which
Peel mounts at /static/vendor/. Nothing is fetched from a CDN or the network.

Usage: python scripts/build_assets.py

Layout produced (rebuilt from scratch on every run, so the script is idempotent):

    vendor/peel.css
    vendor/govuk/govuk-frontend.min.js (+ .map)
    vendor/govuk/assets/manifest.json
    vendor/govuk/assets/images/...
    vendor/leaflet/leaflet.js (+ .map), vendor/leaflet/leaflet.css
    vendor/leaflet/images/...

The GDS Transport font files are deliberately not copied: Peel is not a GOV.UK
service and uses a system font stack.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NODE_MODULES = ROOT / "node_modules"
SASS = NODE_MODULES / ".bin" / "sass"
GOVUK_DIST = NODE_MODULES / "govuk-frontend" / "dist" / "govuk"
LEAFLET_DIST = NODE_MODULES / "leaflet" / "dist"
TUS_DIST = NODE_MODULES / "tus-js-client" / "dist"

WEB = ROOT / "src" / "peel" / "web"
SCSS_ENTRY = WEB / "scss" / "peel.scss"
VENDOR = WEB / "static" / "vendor"

FORBIDDEN_IN_CSS = ("GDS Transport", "/fonts/")


class BuildError(Exception):
    """A problem the person running the build can fix."""


def _require(path: Path) -> Path:
    if not path.exists():
        raise BuildError(f"{path.relative_to(ROOT)} not found: run npm ci first (from {ROOT}).")
    return path


def check_inputs() -> None:
    if not NODE_MODULES.is_dir():
        raise BuildError(f"node_modules/ is missing: run npm ci first (from {ROOT}).")
    for path in (
        SASS,
        GOVUK_DIST / "govuk-frontend.min.js",
        GOVUK_DIST / "assets" / "manifest.json",
        GOVUK_DIST / "assets" / "images",
        LEAFLET_DIST / "leaflet.js",
        LEAFLET_DIST / "leaflet.css",
        LEAFLET_DIST / "images",
    ):
        _require(path)
    if not SCSS_ENTRY.is_file():
        raise BuildError(f"{SCSS_ENTRY.relative_to(ROOT)} not found.")


def _copy_file(src: Path, dest_dir: Path) -> None:
    dest_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy2(src, dest_dir / src.name)


def _copy_tree(src: Path, dest: Path) -> None:
    shutil.copytree(src, dest, dirs_exist_ok=True)


def copy_govuk() -> None:
    dest = VENDOR / "govuk"
    _copy_file(GOVUK_DIST / "govuk-frontend.min.js", dest)
    map_file = GOVUK_DIST / "govuk-frontend.min.js.map"
    if map_file.exists():
        _copy_file(map_file, dest)
    # assets/ without fonts/: only images and the web app manifest.
    _copy_file(GOVUK_DIST / "assets" / "manifest.json", dest / "assets")
    _copy_tree(GOVUK_DIST / "assets" / "images", dest / "assets" / "images")


def copy_leaflet() -> None:
    dest = VENDOR / "leaflet"
    for name in ("leaflet.js", "leaflet.js.map", "leaflet.css"):
        src = LEAFLET_DIST / name
        if src.exists():
            _copy_file(src, dest)
    _copy_tree(LEAFLET_DIST / "images", dest / "images")


def copy_tus() -> None:
    """The tus client for resumable uploads, as a plain script exposing ``window.tus``."""
    _copy_file(_require(TUS_DIST / "tus.min.js"), VENDOR / "tus")


def compile_css() -> Path:
    out = VENDOR / "peel.css"
    out.parent.mkdir(parents=True, exist_ok=True)
    cmd = [
        str(SASS),
        f"--load-path={NODE_MODULES}",
        "--style=compressed",
        "--no-source-map",
        str(SCSS_ENTRY),
        str(out),
    ]
    try:
        result = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)  # noqa: S603 (fixed argv, no shell)
    except FileNotFoundError as exc:
        raise BuildError(f"could not run {SASS}: is Node.js installed? ({exc})") from exc
    if result.returncode != 0:
        raise BuildError(f"sass failed (exit {result.returncode}):\n{result.stderr.strip()}")
    if result.stderr.strip():
        print(result.stderr.strip(), file=sys.stderr)
    css = out.read_text(encoding="utf-8")
    for needle in FORBIDDEN_IN_CSS:
        if needle in css:
            raise BuildError(f"compiled CSS refers to {needle!r}; Peel must not use GOV.UK fonts.")
    return out


def build() -> None:
    check_inputs()
    # Start from an empty vendor/ so files removed upstream do not linger.
    if VENDOR.exists():
        shutil.rmtree(VENDOR)
    VENDOR.mkdir(parents=True)
    copy_govuk()
    copy_leaflet()
    copy_tus()
    css = compile_css()
    print(f"Built {css.relative_to(ROOT)} ({css.stat().st_size} bytes)")
    print(f"Copied govuk-frontend and Leaflet files into {VENDOR.relative_to(ROOT)}/")


def main() -> int:
    try:
        build()
    except BuildError as exc:
        print(f"build_assets: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
