"""Compatibility layers for providers written for other frameworks.

``aichats_core.compat.g4f`` lets a gpt4free-style provider port by changing its imports; see
``docs/porting-from-g4f.md``.
"""
