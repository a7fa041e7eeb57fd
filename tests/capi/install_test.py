#!/usr/bin/env python3
"""`meson install` puts header, library and pkg-config file in place, and a C
program builds against the installed package with pkg-config and runs.

Usage: install_test.py MESON BUILD_ROOT CC PKG_CONFIG PROGRAM.c [SANITIZE]

SANITIZE is the build's b_sanitize value: a sanitized libhoming needs the
program built with the same sanitizers (the runtime must come first).
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


def main():
    meson, build_root, cc, pkg_config, program = sys.argv[1:6]
    sanitize = sys.argv[6] if len(sys.argv) > 6 else "none"
    with tempfile.TemporaryDirectory(prefix="homing-install-") as destdir:
        run([meson, "install", "-C", build_root, "--no-rebuild", "--quiet",
             "--destdir", destdir])
        header = only(os.path.join(destdir, "**", "include", "homing", "homing.h"))
        pc_file = only(os.path.join(destdir, "**", "pkgconfig", "homing.pc"))
        libdir = os.path.dirname(os.path.dirname(pc_file))
        soname = only(os.path.join(libdir, "libhoming.so.[0-9]"))
        for path in (header, soname, os.path.join(libdir, "libhoming.so")):
            if not os.path.exists(path):
                raise SystemExit("not installed: " + path)

        env = dict(os.environ,
                   PKG_CONFIG_PATH=os.path.dirname(pc_file),
                   PKG_CONFIG_SYSROOT_DIR=destdir)
        flags = run([pkg_config, "--cflags", "--libs", "homing"],
                    env=env).stdout.split()
        if not any(flag.startswith("-I" + destdir) for flag in flags):
            raise SystemExit("pkg-config does not point into the install: %s" % flags)
        binary = os.path.join(destdir, "consumer")
        command = [cc, "-std=c99", "-Wall", "-Wextra", "-pedantic", "-Werror",
                   program, "-o", binary] + flags
        if sanitize not in ("", "none"):
            command.append("-fsanitize=" + sanitize)
        run(command)
        print(run([binary], env=dict(os.environ, LD_LIBRARY_PATH=libdir)).stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
