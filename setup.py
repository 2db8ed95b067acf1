"""Builds the optional C smaps parser; memtype runs without it (pure-Python fallback)."""

from setuptools import Extension, setup

setup(ext_modules=[Extension("memtype.parse._smaps", ["src/memtype/parse/_smaps.c"], optional=True)])
