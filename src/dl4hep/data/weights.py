"""Event weights: physics normalisation and the training weights derived from it.

Physics weight (column ``weight``, in events for the config's luminosity)::

    weight = genWeight * sigma[pb] * L[fb^-1] * 1000 / sum_w

``sigma`` is the sample's ``cross_section`` from the config when set, otherwise
the value the features stage copied from the ntuple's ``Runs`` tree
(``cross_section_pb`` in the feature file's ``dl4hep`` metadata). ``sum_w`` is
the sum of generator weights of *all generated events* of the sample (the
``Runs`` tree's ``genEventSumw``, ``sum_weights`` in the metadata), summed over
every file of the sample, including files left empty by the selection, so the
selection efficiency is part of the weight. Without a ``Runs`` sum it is the sum of
genWeight over every entry the features stage read (``sum_gen_weight_read``, before any
selection), and only for feature files older than that over the selected rows. Negative
generator weights count with their sign, as in CMS's ``genEventSumw``.

``genWeight`` above is the *nominal event weight* when the config sets a weight expression
(``weights.nominal``, ``samples.<s>.weight``, e.g. ``genWeight * puWeight``); ``sum_w`` stays
the generator-weight sum, so the extra factors (pileup, prefiring) change the yield as they
should. Weight variations get the same ``sigma * L / sum_w``.

Training weight (column ``train_weight``): see :func:`training_weights`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from dl4hep.errors import DataError

__all__ = [
    "FLAT_BINS",
    "FLAT_FLOOR",
    "SampleNormalisation",
    "flat_reweight_factors",
    "sample_normalisation",
    "training_weights",
]

log = logging.getLogger(__name__)

#: Bins per observer of the (pT, eta) histogram used by balance="pt_eta".
FLAT_BINS = 15
#: Histogram bins holding less than this fraction of a class's fullest bin count as holding
#: exactly this fraction, which caps the flattening weight ratio at 1/FLAT_FLOOR.
FLAT_FLOOR = 0.01


@dataclass(frozen=True)
class SampleNormalisation:
    """How one sample's generator weights become physics weights."""

    sample: str
    cross_section_pb: float | None
    cross_section_source: Literal["config", "ntuple", "none"]
    sum_weights: float
    sum_weights_source: Literal["ntuple", "entries", "rows"]
    n_events: int | None

    def scale(self, luminosity_fb: float) -> float | None:
        """``sigma * L / sum_w`` (per unit genWeight), or None without a cross section."""
        if self.cross_section_pb is None:
            return None
        return self.cross_section_pb * luminosity_fb * 1000.0 / self.sum_weights

    def as_dict(self) -> dict[str, Any]:
        return {
            "cross_section_pb": self.cross_section_pb,
            "cross_section_source": self.cross_section_source,
            "sum_weights": self.sum_weights,
            "sum_weights_source": self.sum_weights_source,
            "n_events": self.n_events,
        }


def sample_normalisation(
    sample: str,
    *,
    config_cross_section: float | None,
    file_meta: Sequence[dict[str, Any]],
    files: Sequence[str],
    row_weight_sum: float,
) -> SampleNormalisation:
    """Combine the per-file normalisation metadata of one sample.

    Args:
        config_cross_section: ``samples.<name>.cross_section`` (pb) or None.
        file_meta: the ``dl4hep`` metadata dict of every file of the sample (empty ones too).
        files: the file paths, for messages.
        row_weight_sum: sum of genWeight over the rows read (fallback for ``sum_weights``).
    """
    n_events_all = [m.get("n_events") for m in file_meta]
    n_events = int(sum(n_events_all)) if n_events_all and all(n is not None for n in n_events_all) else None

    sums = [m.get("sum_weights") for m in file_meta]
    read = [m.get("sum_gen_weight_read") for m in file_meta]
    if sums and all(s is not None for s in sums):
        sum_w, sum_source = float(sum(sums)), "ntuple"
    elif read and all(s is not None for s in read):
        sum_w, sum_source = float(sum(read)), "entries"
    else:
        sum_w, sum_source = float(row_weight_sum), "rows"
        log.warning(
            "sample '%s': 'sum_weights' missing from the dl4hep metadata of %s; normalising by the sum of "
            "genWeight of the selected rows, so the selection efficiency is not in the weights",
            sample, [f for f, s in zip(files, sums, strict=True) if s is None],
        )
    if not np.isfinite(sum_w) or sum_w <= 0:
        raise DataError(
            f"sample '{sample}': the sum of generator weights is {sum_w} (files {list(files)}); "
            "it must be positive and finite. Check the Runs tree (genEventSumw) of the ntuples."
        )

    if config_cross_section is not None:
        return SampleNormalisation(sample, float(config_cross_section), "config", sum_w, sum_source, n_events)

    xs = [(m.get("cross_section_pb"), m.get("n_events")) for m in file_meta]
    known = [(float(x), n) for x, n in xs if x is not None]
    if not known:
        log.warning(
            "sample '%s': no cross section (set samples.%s.cross_section in pb, or use ntuples whose Runs "
            "tree has genCrossSection); weights are normalised so the sample sums to its row count, "
            "and significance values will be arbitrary",
            sample, sample,
        )
        return SampleNormalisation(sample, None, "none", sum_w, sum_source, n_events)
    # Chunks of one generated process each estimate sigma; combine weighted by generated events.
    values = np.array([x for x, _ in known])
    counts = np.array([n if n is not None else 1 for _, n in known], dtype=np.float64)
    sigma = float(np.sum(values * counts) / np.sum(counts))
    return SampleNormalisation(sample, sigma, "ntuple", sum_w, sum_source, n_events)


def flat_reweight_factors(
    observers: np.ndarray, labels: np.ndarray, base: np.ndarray, fit: np.ndarray, n_classes: int
) -> np.ndarray:
    """Per-row factors that make each class flat in the 2D observer histogram.

    Args:
        observers: ``(rows, 2)`` e.g. (pT in GeV, eta).
        labels: ``(rows,)`` class index.
        base: ``(rows,)`` weights the histogram is filled with.
        fit: ``(rows,)`` bool, rows used to fill the histograms (the training split).

    Bin edges: ``FLAT_BINS`` equal-width bins between the 0.5 % and 99.5 % quantiles of
    all fitted rows; values outside go to the edge bins. Returns factors with mean 1 over
    each class's fitted rows.
    """
    obs = np.asarray(observers, dtype=np.float64)
    finite = np.all(np.isfinite(obs), axis=1)
    use = fit & finite
    edges = []
    for j in range(obs.shape[1]):
        lo, hi = np.quantile(obs[use, j], [0.005, 0.995]) if use.any() else (0.0, 1.0)
        if hi <= lo:
            hi = lo + 1.0
        edges.append(np.linspace(lo, hi, FLAT_BINS + 1))
    idx = [
        np.clip(np.searchsorted(e, np.where(finite, obs[:, j], e[0]), side="right") - 1, 0, FLAT_BINS - 1)
        for j, e in enumerate(edges)
    ]
    flat_bin = idx[0] * FLAT_BINS + idx[1]
    factors = np.ones(len(labels), dtype=np.float64)
    for c in range(n_classes):
        in_c = labels == c
        sel = in_c & use
        if not sel.any():
            continue
        hist = np.bincount(flat_bin[sel], weights=base[sel], minlength=FLAT_BINS * FLAT_BINS)
        floor = FLAT_FLOOR * hist.max() if hist.max() > 0 else 1.0
        inv = 1.0 / np.maximum(hist, floor)
        f = inv[flat_bin[in_c]]
        factors[in_c] = f / f[use[in_c]].mean()
    return factors


def training_weights(
    *,
    labels: np.ndarray,
    weights: np.ndarray,
    is_train: np.ndarray,
    classes: Sequence[str],
    balance: Literal["none", "classes", "pt_eta"],
    observers: np.ndarray | None = None,
) -> np.ndarray:
    """The weight the loss multiplies by, shape ``(rows,)`` float64.

    * ``none``: physics weight, then each class scaled to the same total in training.
    * ``classes``: unit weight per row, then each class scaled to the same total
      (equal effective counts per class; the physics mix inside a class is ignored).
    * ``pt_eta``: like ``none`` with each class first reweighted flat in the two
      ``reweight_observers`` (see :func:`flat_reweight_factors`), so the classifier
      cannot learn the kinematic spectra. The reference is weaver-core's
      ``reweight_method: flat`` (a 2D histogram per class in the ``reweight_vars``).
      The JetClass trainings of ParticleNet and ParT used no such reweighting
      (``JetClass_full.yaml`` has an empty ``weights:`` block).

    Class factors are fitted on the training split and applied to every split; the
    result is normalised so the mean over training rows is 1.
    """
    labels = np.asarray(labels)
    base = np.ones(len(labels)) if balance == "classes" else np.asarray(weights, dtype=np.float64).copy()
    if balance == "pt_eta":
        if observers is None:
            raise DataError("balance='pt_eta' needs the reweight observers")
        base = base * flat_reweight_factors(observers, labels, base, is_train, len(classes))
    totals = np.bincount(labels[is_train], weights=base[is_train], minlength=len(classes))
    bad = [f"{classes[c]} ({totals[c]:.6g})" for c in range(len(classes)) if not totals[c] > 0]
    if bad:
        raise DataError(
            f"class(es) {', '.join(bad)} have no positive total weight in the training split; "
            "add events or change dataset.split, or use dataset.balance='classes' to ignore physics weights"
        )
    w = base / totals[labels]
    mean = w[is_train].mean()
    return w / mean


def equal_sample_mix(
    weight: np.ndarray, labels: np.ndarray, sample_idx: np.ndarray, sample_names: Sequence[str]
) -> np.ndarray:
    """Rescale each sample so that all samples of a class carry the same total weight.

    The class total Σw is kept; inside a class every sample gets total / n_samples, with its
    own row-to-row weight shape (generator weights, negative ones included) unchanged. A
    sample whose total is not positive cannot be rescaled and raises.
    """
    out = np.asarray(weight, dtype=np.float64).copy()
    for c in np.unique(labels):
        in_c = labels == c
        samples = np.unique(sample_idx[in_c])
        class_total = out[in_c].sum()
        for s in samples:
            rows = in_c & (sample_idx == s)
            total = out[rows].sum()
            if not total > 0:
                raise DataError(f"sample '{sample_names[s]}' has total weight {total:.6g} after the selection; "
                                "dataset.sample_mix: equal needs a positive total per sample")
            out[rows] *= class_total / (len(samples) * total)
    return out
