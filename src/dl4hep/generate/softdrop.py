"""Soft-drop mass (beta = 0, z_cut = 0.1: the modified mass-drop tagger).

Each jet's constituents are reclustered with Cambridge/Aachen into one object (FastJet's
classic PseudoJet API) and the primary branch is declustered: the softer branch is
dropped while ``min(pT1, pT2) / (pT1 + pT2) < z_cut * (dR12 / R0)^beta``; the mass of
the first branch that passes is ``msoftdrop``. (FastJet's multi-event grooming binding costs
~0.6 ms per jet as it also returns every groomed constituent, this loop ~0.2 ms; numba would
be faster per jet but costs ~2 s to start.)
"""

from __future__ import annotations

import math

import numpy as np

from dl4hep.generate.pythia_run import import_fastjet

__all__ = ["softdrop_mass"]


def softdrop_mass(
    offsets: np.ndarray, px: np.ndarray, py: np.ndarray, pz: np.ndarray, e: np.ndarray,
    *, zcut: float = 0.1, beta: float = 0.0, r0: float = 0.8,
) -> np.ndarray:
    """Soft-drop mass of each jet; jet ``j`` has constituents ``offsets[j]:offsets[j+1]``."""
    fastjet = import_fastjet()
    pj = fastjet.PseudoJet
    jd = fastjet.JetDefinition(fastjet.cambridge_algorithm, 10.0)
    pxl, pyl, pzl, el = (np.asarray(a, float).tolist() for a in (px, py, pz, e))
    out = np.zeros(len(offsets) - 1)
    for j in range(len(offsets) - 1):
        s, t = int(offsets[j]), int(offsets[j + 1])
        if t <= s:
            continue
        parts = [pj(a, b, c, d) for a, b, c, d in zip(pxl[s:t], pyl[s:t], pzl[s:t], el[s:t], strict=True)]
        cs = fastjet.ClusterSequence(parts, jd)
        jet = cs.exclusive_jets(1)[0]
        p1, p2 = pj(), pj()
        while jet.has_parents(p1, p2):
            a, b = p1.pt(), p2.pt()
            thr = zcut * (p1.delta_R(p2) / r0) ** beta if beta else zcut
            if min(a, b) / max(a + b, 1e-12) > thr:
                break
            jet = p1 if a >= b else p2
            p1, p2 = pj(), pj()
        out[j] = math.sqrt(max(jet.m2(), 0.0))
    return out
