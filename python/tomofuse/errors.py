"""``tomofuse.Error``: every error from the Rust crates (a ``ValueError``)."""

from ._native import Error

__all__ = ["Error"]
