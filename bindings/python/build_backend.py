"""The PEP 517 build backend of the homing package, standard library only.

`pip install ./bindings/python` builds a wheel through this module (named
in pyproject.toml with `backend-path`), so installing needs nothing from a
package index: no setuptools, no wheel package, no download, with or without
build isolation. It packs `homing/` (and a libhoming.so.* copied into it,
which makes the wheel platform-specific) with the metadata of pyproject.toml.

Hooks: build_wheel, build_sdist, build_editable (PEP 660: a .pth file that
points at this directory).
"""

import base64
import hashlib
import io
import sysconfig
import tarfile
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent
PACKAGE = "homing"


def _project():
    with open(ROOT / "pyproject.toml", "rb") as file:
        return tomllib.load(file)["project"]


def _metadata():
    project = _project()
    lines = ["Metadata-Version: 2.1",
             f"Name: {project['name']}",
             f"Version: {project['version']}",
             f"Summary: {project['description']}",
             f"Requires-Python: {project['requires-python']}",
             f"License: {project['license']['text']}"]
    readme = ROOT / project["readme"]
    lines += ["Description-Content-Type: text/markdown", "", readme.read_text()]
    return "\n".join(lines)


def _package_files():
    """(path in the wheel, bytes) of every file of the package."""
    files = []
    for path in sorted((ROOT / PACKAGE).rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
            files.append((path.relative_to(ROOT).as_posix(), path.read_bytes()))
    return files


def _platform_tag():
    return sysconfig.get_platform().replace("-", "_").replace(".", "_")


def _write_wheel(directory, files, tag, purelib):
    project = _project()
    name, version = project["name"], project["version"]
    dist_info = f"{name}-{version}.dist-info"
    files = files + [
        (f"{dist_info}/METADATA", _metadata().encode()),
        (f"{dist_info}/WHEEL", (f"Wheel-Version: 1.0\nGenerator: homing build_backend\n"
                                f"Root-Is-Purelib: {str(purelib).lower()}\n"
                                f"Tag: {tag}\n").encode()),
        (f"{dist_info}/top_level.txt", f"{PACKAGE}\n".encode()),
    ]
    record = []
    for path, data in files:
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
        record.append(f"{path},sha256={digest.decode()},{len(data)}")
    record.append(f"{dist_info}/RECORD,,")
    files.append((f"{dist_info}/RECORD", ("\n".join(record) + "\n").encode()))
    wheel_name = f"{name}-{version}-{tag}.whl"
    with zipfile.ZipFile(Path(directory) / wheel_name, "w", zipfile.ZIP_DEFLATED) as wheel:
        for path, data in files:
            info = zipfile.ZipInfo(path, date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = (0o755 if ".so" in path else 0o644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            wheel.writestr(info, data)
    return wheel_name


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    files = _package_files()
    bundled = any(Path(path).name.startswith("libhoming.so") for path, _ in files)
    # A bundled libhoming ties the wheel to this platform.
    tag = f"py3-none-{_platform_tag()}" if bundled else "py3-none-any"
    return _write_wheel(wheel_directory, files, tag, purelib=not bundled)


def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    return _write_wheel(wheel_directory, [(f"{PACKAGE}.pth", f"{ROOT}\n".encode())],
                        "py3-none-any", purelib=True)


def build_sdist(sdist_directory, config_settings=None):
    project = _project()
    base = f"{project['name']}-{project['version']}"
    sources = ["pyproject.toml", "build_backend.py", project["readme"]]
    sources += [path for path, _ in _package_files()
                if not Path(path).name.startswith("libhoming.so")]
    name = f"{base}.tar.gz"
    with tarfile.open(Path(sdist_directory) / name, "w:gz", format=tarfile.PAX_FORMAT) as sdist:
        for source in sources:
            sdist.add(ROOT / source, f"{base}/{source}")
        info = tarfile.TarInfo(f"{base}/PKG-INFO")
        data = _metadata().encode()
        info.size = len(data)
        sdist.addfile(info, io.BytesIO(data))
    return name


def get_requires_for_build_wheel(config_settings=None):
    return []


def get_requires_for_build_sdist(config_settings=None):
    return []


def get_requires_for_build_editable(config_settings=None):
    return []

