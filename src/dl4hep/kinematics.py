"""Four-momentum helpers shared by generation (:mod:`dl4hep.generate`) and features (:mod:`dl4hep.features`).

Plain numpy on whole arrays, no awkward, vector or torch, so both the fast detector and the feature
sets can import it without pulling in each other. Conventions (GeV, radians): the collider
coordinates of the PDG review "Kinematics" (pseudorapidity η = asinh(p_z / p_T), φ = atan2(p_y, p_x)
in [−π, π]).
"""

from __future__ import annotations

import numpy as np

__all__ = ["cartesian", "delta_phi", "pt_eta_phi", "wrap_phi"]


def wrap_phi(phi: np.ndarray) -> np.ndarray:
    """Angle ``phi`` wrapped to [−π, π): (φ + π) mod 2π − π."""
    return np.mod(phi + np.pi, 2 * np.pi) - np.pi


def delta_phi(a: np.ndarray, b: np.ndarray | float = 0.0) -> np.ndarray:
    """φ_a − φ_b wrapped to [−π, π)."""
    return wrap_phi(a - b)


def cartesian(
    pt: np.ndarray, eta: np.ndarray, phi: np.ndarray, mass: np.ndarray
) -> dict[str, np.ndarray]:
    """``px, py, pz, E`` of (pT, η, φ, m): p_x = pT cos φ, p_y = pT sin φ, p_z = pT sinh η, E = √(p² + m²)."""
    px, py, pz = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
    return {"px": px, "py": py, "pz": pz, "E": np.sqrt(px**2 + py**2 + pz**2 + mass**2)}


def pt_eta_phi(
    px: np.ndarray, py: np.ndarray, pz: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(pT, η, φ) of a momentum; a particle along the beam (pT = 0) gets η = sign(p_z)·asinh(10⁴) ≈ ±9.9."""
    pt = np.hypot(px, py)
    with np.errstate(divide="ignore", invalid="ignore"):
        eta = np.arcsinh(np.where(pt > 0, pz / np.maximum(pt, 1e-12), np.sign(pz) * 1e4))
    return pt, np.clip(eta, -20, 20), np.arctan2(py, px)
