"""Keyword arguments renamed for the book's notation, with a deprecation for the old name.

The DDPM-scaled point the networks see, z̄ = √ᾱ·z = z/√(1+t) (DDPM's x_t), was called ``x`` in
the code, while the book writes x for a condition (McAllester's P(y | x)).  It is now ``z_bar``
everywhere (book: "Notation", the noise level).  ``renamed_argument("x", "z_bar")`` keeps old
calls working: ``f(x=...)`` still runs and warns once per call site with a DeprecationWarning
that names the new keyword.
"""
from __future__ import annotations

import functools
import inspect
import warnings


def renamed_argument(old: str, new: str):
    """Decorator: accept the keyword ``old`` as ``new`` with a DeprecationWarning naming ``new``.

    Passing both raises a TypeError (as Python does for a keyword given twice).  The wrapped
    function keeps its signature (``inspect.signature`` shows ``new`` only).
    """
    def decorate(fn):
        if new not in inspect.signature(fn).parameters:
            raise ValueError(f"{fn.__qualname__} has no parameter {new!r} to rename {old!r} to")

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            if old in kwargs:
                if new in kwargs:
                    raise TypeError(f"{fn.__qualname__}() got both {old!r} (deprecated) and {new!r}; pass {new!r} only")
                warnings.warn(f"{fn.__qualname__}(): the keyword {old!r} is deprecated, use {new!r} "
                              f"(the DDPM-scaled point z̄ = z/√(1+t); book: Notation)",
                              DeprecationWarning, stacklevel=2)
                kwargs[new] = kwargs.pop(old)
            return fn(*args, **kwargs)

        wrapper.__renamed_arguments__ = {**getattr(fn, "__renamed_arguments__", {}), old: new}
        return wrapper
    return decorate
