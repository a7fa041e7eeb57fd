#!/usr/bin/env python3
"""docs/python.md is true and complete: its ```pycon blocks, run in order as
one doctest against real servers (python_support.Fixture, which sets the
HOMING_EXAMPLE_* variables the page uses), print what the page says; and the
page names every public class, function, method, property and enumerator of
the package."""

import dataclasses
import doctest
import enum
import re
import unittest

from python_support import SOURCE_ROOT, Fixture, needs_cluster

import homing
from homing._ffi import Handle

PAGE = SOURCE_ROOT / "docs" / "python.md"
BLOCK = re.compile(r"^```pycon\n(.*?)^```$", re.M | re.S)


def public_members(cls):
    """Public attributes a class of the package defines (not close() and
    closed of every handle, which the page describes once, nor those of
    builtins)."""
    names = set()
    for klass in cls.__mro__:
        if klass.__module__.startswith("homing"):
            names |= {name for name in vars(klass) if not name.startswith("_")}
    names -= set(vars(Handle))
    if dataclasses.is_dataclass(cls):
        names |= {field.name for field in dataclasses.fields(cls)}
    return names


class Examples(unittest.TestCase):
    @needs_cluster()
    def test_every_example_prints_what_the_page_says(self):
        text = PAGE.read_text()
        blocks = list(BLOCK.finditer(text))
        self.assertGreater(len(blocks), 8)
        runner = doctest.DocTestRunner(
            optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
        output, names = [], {}  # one namespace: each block goes on from the last
        fixture = Fixture(block=8).start()
        try:
            for block in blocks:
                line = text.count("\n", 0, block.start(1))  # the page's line numbers
                test = doctest.DocTestParser().get_doctest(
                    block.group(1), names, "docs/python.md", str(PAGE), line)
                runner.run(test, out=output.append, clear_globs=False)
                names = test.globs  # a DocTest runs in a copy of what it is given
        finally:
            problems = fixture.stop()
        self.assertEqual(runner.failures, 0, "".join(output))
        self.assertEqual(problems, [])
        self.assertGreater(runner.tries, 50)


class Completeness(unittest.TestCase):
    def setUp(self):
        self.text = PAGE.read_text()

    def test_every_export_is_named(self):
        for name in homing.__all__:
            value = getattr(homing, name)
            if callable(value) and not isinstance(value, type):
                wanted = f"{name}()"
            else:
                wanted = f"`{name}" if isinstance(value, type) else name
            self.assertTrue(wanted in self.text or f"homing.{name}" in self.text,
                            f"{wanted!r} is not in docs/python.md")
        self.assertIn("`homing.__version__`", self.text)

    def test_every_member_is_named_with_its_class(self):
        missing = []
        for name in homing.__all__:
            cls = getattr(homing, name)
            if not isinstance(cls, type) or issubclass(cls, enum.Enum):
                continue
            for member in public_members(cls):
                if f"{name}.{member}" not in self.text:
                    missing.append(f"{name}.{member}")
        missing += [f"HomingError.{m}" for m in ("status", "message")
                    if f"HomingError.{m}" not in self.text]
        self.assertEqual(sorted(missing), [])

    def test_every_enumerator_and_enum_helper_is_named(self):
        missing = []
        for name in homing.__all__:
            cls = getattr(homing, name)
            if isinstance(cls, type) and issubclass(cls, enum.Enum):
                missing += [f"{name}.{m.name}" for m in cls
                            if not re.search(rf"\b{m.name}\b", self.text)]
                missing += [f"{name}.{member}" for member in public_members(cls)
                            if member not in cls.__members__
                            and f"{name}.{member}" not in self.text]
        self.assertEqual(sorted(missing), [])

    def test_the_handle_protocol_is_described(self):
        for words in ("`close()`", "`closed`", "context manager", "garbage collector"):
            self.assertIn(words, self.text)


if __name__ == "__main__":
    unittest.main()
