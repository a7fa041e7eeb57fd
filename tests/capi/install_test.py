#!/usr/bin/env python3
"""`meson install` puts headers, libraries and pkg-config files in place, and
a program builds against the installed package with pkg-config and runs.

Usage: install_test.py MESON BUILD_ROOT COMPILER PKG_CONFIG PROGRAM [SANITIZE]

PROGRAM.c is built as strict C99 against package `homing` (the C ABI,
libhoming.so); PROGRAM.cc as C++20 against `homing-cpp` (the C++ API, the
static libhoming-cpp.a; its pc file names every dependency in Requires). Every public header must
be installed: the program includes what it needs and nothing from the source
tree. SANITIZE is the build's b_sanitize value: a sanitized homing needs the
program built with the same sanitizers (the runtime must come first).
COMPILER may be a launcher and a compiler ("ccache gcc").
"""

import glob
import os
import subprocess
import sys
import tempfile


def run(command, **kwargs):
    """Runs `command`; on failure, shows its output and stops the test."""
    print("$ " + " ".join(command), flush=True)
    result = subprocess.run(command, capture_output=True, text=True, **kwargs)
    if result.returncode != 0:
        raise SystemExit("%s failed (%d):\n%s%s" % (command[0], result.returncode,
                                                    result.stdout, result.stderr))
    return result


def only(pattern):
    found = glob.glob(pattern, recursive=True)
    if len(found) != 1:
        raise SystemExit("expected one match for %s, found %s" % (pattern, found))
    return found[0]


# (package, pkg-config arguments, compiler flags) by the program's language
LANGUAGES = {
    ".c": ("homing", [], ["-std=c99", "-pedantic"]),
    ".cc": ("homing-cpp", [], ["-std=c++20"]),
}


def main():
    meson, build_root, compiler, pkg_config, program = sys.argv[1:6]
    sanitize = sys.argv[6] if len(sys.argv) > 6 else "none"
    package, pkg_config_args, language_flags = LANGUAGES[os.path.splitext(program)[1]]
    with tempfile.TemporaryDirectory(prefix="homing-install-") as destdir:
        run([meson, "install", "-C", build_root, "--no-rebuild", "--quiet",
             "--destdir", destdir])
        include_dir = os.path.dirname(
            only(os.path.join(destdir, "**", "include", "homing", "homing.h")))
        source_headers = os.path.join(os.path.dirname(__file__), "..", "..",
                                      "include", "homing")
        for header in sorted(os.listdir(source_headers)):
            if not os.path.exists(os.path.join(include_dir, header)):
                raise SystemExit("public header not installed: homing/" + header)
        pc_file = only(os.path.join(destdir, "**", "pkgconfig", package + ".pc"))
        libdir = os.path.dirname(os.path.dirname(pc_file))
        soname = only(os.path.join(libdir, "libhoming.so.[0-9]"))
        for path in (soname, os.path.join(libdir, "libhoming.so"),
                     os.path.join(libdir, "libhoming-cpp.a")):
            if not os.path.exists(path):
                raise SystemExit("not installed: " + path)

        env = dict(os.environ,
                   PKG_CONFIG_PATH=os.path.dirname(pc_file),
                   PKG_CONFIG_SYSROOT_DIR=destdir)
        flags = run([pkg_config, "--cflags", "--libs", *pkg_config_args, package],
                    env=env).stdout.split()
        if not any(flag.startswith("-I" + destdir) for flag in flags):
            raise SystemExit("pkg-config does not point into the install: %s" % flags)
        binary = os.path.join(destdir, "consumer")
        command = (compiler.split() + language_flags + ["-Wall", "-Wextra", "-Werror",
                                                         program, "-o", binary] + flags)
        if sanitize not in ("", "none"):
            command.append("-fsanitize=" + sanitize)
        run(command)
        print(run([binary], env=dict(os.environ, LD_LIBRARY_PATH=libdir)).stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
