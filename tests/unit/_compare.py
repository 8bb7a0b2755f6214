"""Bit-for-bit comparison of awkward arrays (NaN payloads included), for reader and feature tests."""

from __future__ import annotations

import awkward as ak
import numpy as np


def assert_same_bits(a: ak.Array, b: ak.Array) -> None:
    """Same type, same length and byte-identical buffers after packing."""
    form_a, len_a, bufs_a = ak.to_buffers(ak.to_packed(a))
    form_b, len_b, bufs_b = ak.to_buffers(ak.to_packed(b))
    assert str(a.type) == str(b.type)
    assert len_a == len_b and form_a == form_b
    assert bufs_a.keys() == bufs_b.keys()
    for key in bufs_a:
        assert np.asarray(bufs_a[key]).tobytes() == np.asarray(bufs_b[key]).tobytes(), f"buffer {key} differs"
