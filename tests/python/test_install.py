#!/usr/bin/env python3
"""`pip install ./bindings/python` works offline (the package's own build
backend needs nothing from an index), with and without build isolation, and
the installed package works: with $HOMING_LIBRARY, or with libhoming.so.0
copied into the package before installing (the wheel then carries it).

Builds from a copy of bindings/python, so the source tree stays clean."""

import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import unittest
from pathlib import Path

from python_support import SOURCE_ROOT, python_env

import homing

BINDINGS = SOURCE_ROOT / "bindings" / "python"


def pip_install(source, target, *options):
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--no-index",
                           "--no-deps", "--disable-pip-version-check", "--target",
                           str(target), *options, str(source)],
                          capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise AssertionError(f"pip install failed:\n{done.stdout}{done.stderr}")


def import_from(target, **env_changes):
    """homing.library_path and homing.version() as a fresh interpreter that
    imports the package from `target` sees them."""
    env = python_env(**{"HOMING_LIBRARY": None, **env_changes})
    env["PYTHONPATH"] = str(target)
    done = subprocess.run([sys.executable, "-c", "import homing; print(homing.__file__); "
                           "print(homing.library_path); print(homing.version())"],
                          env=env, capture_output=True, text=True, timeout=60,
                          cwd=tempfile.gettempdir())
    if done.returncode != 0:
        raise AssertionError(f"import failed:\n{done.stderr}")
    return done.stdout.split()


class Install(unittest.TestCase):
    def setUp(self):
        self.scratch = Path(tempfile.mkdtemp(prefix="homing-python-install-"))
        self.addCleanup(shutil.rmtree, self.scratch)
        self.source = self.scratch / "source"
        shutil.copytree(BINDINGS, self.source,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))

    def test_pip_installs_offline_and_the_package_finds_the_library(self):
        for options in ([], ["--no-build-isolation"]):
            with self.subTest(options=options):
                target = self.scratch / f"target{len(options)}"
                pip_install(self.source, target, *options)
                module, library, version = import_from(
                    target, HOMING_LIBRARY=os.environ["HOMING_LIBRARY"])
                self.assertEqual(Path(module), target / "homing" / "__init__.py")
                self.assertEqual((library, version),
                                 (os.environ["HOMING_LIBRARY"], homing.version()))
                self.assertTrue((target / "homing" / "py.typed").exists())
                self.assertTrue((target / "homing-0.1.0.dist-info" / "RECORD").exists())

    def test_a_library_copied_into_the_package_is_installed_with_it(self):
        shutil.copy(os.environ["HOMING_LIBRARY"], self.source / "homing" / "libhoming.so.0")
        target = self.scratch / "target"
        pip_install(self.source, target)
        module, library, version = import_from(target)
        self.assertEqual(library, str(target / "homing" / "libhoming.so.0"))
        self.assertEqual(version, homing.version())
        wheel_tag = (target / "homing-0.1.0.dist-info" / "WHEEL").read_text()
        self.assertIn("Root-Is-Purelib: false", wheel_tag)

    def test_the_sdist_carries_what_a_build_needs(self):
        sys.path.insert(0, str(self.source))
        try:
            import build_backend
            name = build_backend.build_sdist(str(self.scratch))
        finally:
            sys.path.remove(str(self.source))
            sys.modules.pop("build_backend", None)
        with tarfile.open(self.scratch / name) as sdist:
            names = set(sdist.getnames())
        self.assertEqual(name, "homing-0.1.0.tar.gz")
        for member in ("pyproject.toml", "build_backend.py", "README.md", "PKG-INFO",
                       "homing/__init__.py", "homing/_ffi.py", "homing/py.typed"):
            self.assertIn(f"homing-0.1.0/{member}", names)


if __name__ == "__main__":
    unittest.main()
