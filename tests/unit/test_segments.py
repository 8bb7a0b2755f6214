"""Flat-array segment helpers against the plain numpy / awkward expressions they replace."""

import awkward as ak
import numpy as np
import pytest

from dl4hep.features import segments as sg


def _segments(rng, n=300, mean=5):
    counts = rng.poisson(mean, n)
    counts[::7] = 0  # empty segments
    return counts, np.repeat(np.arange(n), counts)


def _awkward_values(rng, size):
    """float32 values with ties, ±0, ±inf, NaN and negatives."""
    v = rng.choice(np.array([0.5, 1.0, 2.0, -1.0, 0.0, -0.0, np.inf, -np.inf, np.nan], np.float32), size)
    return np.where(rng.random(size) < 0.5, rng.normal(size=size).astype(np.float32), v)


def test_starts_and_slots():
    rng = np.random.default_rng(1)
    counts, seg = _segments(rng)
    np.testing.assert_array_equal(sg.starts(counts), np.concatenate([[0], np.cumsum(counts)[:-1]]))
    np.testing.assert_array_equal(sg.slots(counts), np.concatenate([np.arange(c) for c in counts]))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_argsort_desc_within_is_the_lexsort(dtype):
    rng = np.random.default_rng(2)
    counts, seg = _segments(rng)
    v = _awkward_values(rng, len(seg)).astype(dtype)
    np.testing.assert_array_equal(sg.argsort_desc_within(seg, v), np.lexsort((-v, seg)))
    # float64 values that float32 cannot hold take the lexsort path
    w = v.astype(np.float64) + 1e-12
    np.testing.assert_array_equal(sg.argsort_desc_within(seg, w), np.lexsort((-w, seg)))
    # unsorted segment numbers
    perm = rng.permutation(len(seg))
    np.testing.assert_array_equal(sg.argsort_desc_within(seg[perm], v[perm]), np.lexsort((-v[perm], seg[perm])))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_argsort_desc_within_nan_first_is_awkward_argsort(dtype):
    rng = np.random.default_rng(3)
    counts, seg = _segments(rng)
    v = _awkward_values(rng, len(seg)).astype(dtype)
    jagged = ak.unflatten(v, counts)
    expected = ak.to_numpy(ak.flatten(ak.argsort(jagged, axis=1, ascending=False))) + np.repeat(sg.starts(counts), counts)
    np.testing.assert_array_equal(sg.argsort_desc_within(seg, v, nan_first=True), expected)
    w = v.astype(np.float64) + 1e-12  # lexsort path
    jagged = ak.unflatten(w, counts)
    expected = ak.to_numpy(ak.flatten(ak.argsort(jagged, axis=1, ascending=False))) + np.repeat(sg.starts(counts), counts)
    np.testing.assert_array_equal(sg.argsort_desc_within(seg, w, nan_first=True), expected)


def test_scatter_and_stack_match_numpy():
    rng = np.random.default_rng(4)
    counts, rows = _segments(rng)
    slot = sg.slots(counts)
    keep = slot < 4
    rows, slot = rows[keep], slot[keep]
    cols = [rng.normal(size=len(rows)) for _ in range(3)] + [rng.random(len(rows)) > 0.5]
    stacked = np.stack(cols, axis=-1).astype(np.float32)
    np.testing.assert_array_equal(sg.stack_columns(cols), stacked)
    expected = np.zeros((len(counts), 4, 4), np.float32)
    for k, (r, s) in enumerate(zip(rows, slot, strict=True)):
        expected[r, s] = stacked[k]
    np.testing.assert_array_equal(sg.scatter_padded(stacked, rows, slot, len(counts), 4), expected)
    mask = sg.scatter_padded(np.ones(len(rows), bool), rows, slot, len(counts), 4, bool)
    np.testing.assert_array_equal(mask, np.arange(4) < np.minimum(counts, 4)[:, None])
    empty = sg.scatter_padded(np.zeros((0, 3), np.float32), rows[:0], slot[:0], 2, 4)
    assert empty.shape == (2, 4, 3) and not empty.any()


def test_by_integer_is_exact():
    rng = np.random.default_rng(5)
    k = rng.integers(-85, 86, 1000)

    def fn(x):
        return np.cosh(0.0174 * x)

    np.testing.assert_array_equal(sg.by_integer(fn, k), fn(k))
    wide = np.array([0, 10**4])  # range larger than the array: direct evaluation
    np.testing.assert_array_equal(sg.by_integer(fn, wide), fn(wide))
    assert sg.by_integer(fn, k[:0]).shape == (0,)
