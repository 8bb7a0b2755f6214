"""Fast parametric detector, vectorised with numpy over all particles of a batch of events.

Nothing here imports Pythia: inputs are flat numpy arrays of particles (with an
event index), so every function is unit-testable with hand-made particles.
Units: GeV, cm (impact parameters, vertices), ns (times). All parameters live in
:class:`DetectorParams` and are documented in ``docs/generation.md``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, replace
from typing import Any

import numpy as np
from scipy.special import erf

from dl4hep.kinematics import delta_phi, pt_eta_phi, wrap_phi

__all__ = [
    "DETA",
    "DPHI",
    "DetectorParams",
    "EcalDeposits",
    "bend",
    "build_ecal_cluster",
    "btag_decision",
    "calorimetric_energy",
    "crystal_ieta",
    "crystal_iphi",
    "ecal_deposits",
    "ecal_deposits_with_source",
    "find_pileup_seeds",
    "impact_parameters",
    "make_pf_candidates",
    "pt_eta_phi",
    "relative_isolation",
    "shower_fractions",
]

#: ECAL barrel crystal size in eta and phi (CMS: 0.0174 x 0.0174, 360 crystals in phi).
DETA = 0.0174
DPHI = 2 * math.pi / 360
#: Barrel crystal rows: ieta = floor(eta / DETA) in [-85, 84].
IETA_MIN, IETA_MAX = -85, 84
NPHI = 360
PION_MASS, ELECTRON_MASS, MUON_MASS = 0.13957, 0.000511, 0.10566


@dataclass(frozen=True)
class DetectorParams:
    """Every detector-model parameter (GeV, cm, ns). See docs/generation.md for the physics."""

    # --- tracker ---
    track_eta_max: float = 2.5
    track_pt_min: float = 0.4
    track_eff_low: float = 0.90        # efficiency for pT < 1 GeV
    track_eff_high: float = 0.97       # efficiency for pT >= 1 GeV
    track_pt_res_a: float = 0.008      # sigma(pT)/pT constant term
    track_pt_res_b: float = 1.5e-4     # sigma(pT)/pT term proportional to pT [1/GeV]
    track_angle_res: float = 0.001     # eta and phi resolution of tracks
    d0_res_a: float = 0.0010           # sigma(d0) constant term [cm] (10 um)
    d0_res_b: float = 0.0050           # sigma(d0) multiple-scattering term [cm GeV]
    dz_res_factor: float = 1.5         # sigma(dz) = factor * sigma(d0) * sqrt(cosh(eta))
    # --- calorimeters (neutral PF candidates) ---
    calo_eta_max: float = 4.7
    photon_e_min: float = 1.0
    nhad_e_min: float = 2.0
    em_res_a: float = 0.03             # photons: a/sqrt(E)
    em_res_c: float = 0.005            # photons: constant term
    had_res_a: float = 1.0             # neutral hadrons: a/sqrt(E)
    had_res_c: float = 0.05            # neutral hadrons: constant term
    # --- leptons ---
    electron_pt_min: float = 5.0
    electron_eff: float = 0.90
    electron_res: float = 0.02         # sigma(pT)/pT of reconstructed electrons
    muon_pt_min: float = 3.0
    muon_eta_max: float = 2.4
    muon_eff: float = 0.97
    # --- jets ---
    jet_pt_min: float = 20.0
    fatjet_pt_min: float = 170.0
    btag_eff_b: float = 0.75
    btag_eff_c: float = 0.10
    btag_eff_light: float = 0.01
    hadron_match_dr: float = 0.4
    heavy_hadron_pt_min: float = 5.0
    # --- ECAL barrel ---
    ecal_eta_max: float = 1.479
    ecal_radius: float = 129.0         # cm, front face of the barrel crystals
    bfield: float = 3.8                # T
    ecal_stochastic: float = 0.03      # a/sqrt(E)
    ecal_noise: float = 0.05           # per-crystal noise [GeV] (about 0.2-0.35 GeV per cluster)
    ecal_constant: float = 0.005
    ecal_zs_threshold: float = 0.10    # zero-suppression threshold for stored hits [GeV]
    ecal_window: int = 7               # cluster window (crystals per side)
    ecal_seed_threshold: float = 2.0   # pileup-only seed threshold [GeV]
    em_core_sigma: float = 0.35        # EM shower core width [crystals]
    em_tail_sigma: float = 1.2         # EM shower tail width [crystals]
    em_core_frac: float = 0.85
    had_core_sigma: float = 1.0
    had_tail_sigma: float = 3.0
    had_core_frac: float = 0.6
    conversion_prob: float = 0.35      # photon converts before the ECAL
    brem_frac_max: float = 0.5         # electron: uniform brem fraction in [0, this]
    mip_energy: float = 0.3            # muon / non-interacting hadron ECAL deposit [GeV]
    had_interact_prob: float = 0.6     # hadron starts its shower in the ECAL
    had_ecal_frac: tuple[float, float] = (0.1, 0.6)
    time_res_noise: float = 1.75       # sigma_t = noise_term / E (+) const  [ns GeV]
    time_res_const: float = 0.1        # [ns]
    oot_weight: float = 0.3            # amplitude fraction of out-of-time (+-25 ns) pileup energy
    bx_spacing: float = 25.0           # ns
    beamspot_sigma_z: float = 3.5      # cm, pileup vertex z spread
    beamspot_sigma_t: float = 0.2      # ns, pileup vertex time spread

    def with_overrides(self, overrides: dict[str, Any]) -> DetectorParams:
        names = {f.name for f in fields(self)}
        return replace(self, **{k: v for k, v in overrides.items() if v is not None and k in names})


# ----------------------------------------------------------------------------- resolutions

def _res(e: np.ndarray, a: float, c: float, b: float = 0.0) -> np.ndarray:
    """Relative resolution a/sqrt(E) (+) b/E (+) c."""
    e = np.maximum(e, 1e-6)
    return np.sqrt(a * a / e + (b / e) ** 2 + c * c)


# ----------------------------------------------------------------------------- tracker

def impact_parameters(
    vx: np.ndarray, vy: np.ndarray, vz: np.ndarray, phi: np.ndarray, eta: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Transverse (d0) and longitudinal (dz) impact parameters of a straight track from a vertex.

    ``d0 = x sin(phi) - y cos(phi)`` (signed distance of closest approach to the beam line),
    ``dz = z - (x cos(phi) + y sin(phi)) * sinh(eta)``; same units as the vertex (cm).
    """
    d0 = vx * np.sin(phi) - vy * np.cos(phi)
    s = vx * np.cos(phi) + vy * np.sin(phi)
    dz = vz - s * np.sinh(eta)
    return d0, dz


def _curl_pt(p: DetectorParams) -> float:
    """pT (GeV) below which a unit-charge track curls up before the ECAL: k = 0.3·B[T]·R[m]/2."""
    return 0.3 * p.bfield * (p.ecal_radius / 100.0) / 2.0


def make_pf_candidates(
    rng: np.random.Generator,
    p: DetectorParams,
    *,
    px: np.ndarray, py: np.ndarray, pz: np.ndarray, e: np.ndarray,
    pdg: np.ndarray, charge: np.ndarray,
    vx: np.ndarray, vy: np.ndarray, vz: np.ndarray,
) -> dict[str, np.ndarray]:
    """Turn visible final-state particles into PF-like candidates.

    Charged particles inside the tracker (abs(η) < ``track_eta_max``) become tracks with
    efficiency ``eff(pT)``, resolution σ(pT)/pT = a ⊕ b·pT, angle smearing and impact
    parameters from the true production vertex. Neutrals and charged particles outside the
    tracker become calorimeter candidates (22 for e/γ, 130 otherwise) with σ(E)/E = a/√E ⊕ c.
    A charged particle inside the tracker whose track is lost (efficiency or pT < ``track_pt_min``)
    still showers in the calorimeter, as in particle flow: if it reaches the ECAL radius
    (pT > k = 0.3·B·R/2) it becomes a calorimeter candidate at the bent impact φ − q·asin(k/pT);
    lost muons (MIPs) vanish. Returns flat arrays plus ``keep`` (bool mask over the input
    particles) so callers can map candidates back to particles.
    """
    pt, eta, phi = pt_eta_phi(px, py, pz)
    apdg = np.abs(pdg)
    trk, lost, nphot, nhad = _pf_kinds(rng, p, pt, eta, e, apdg, charge)
    out_pt, out_eta, out_phi = _smear_pf(rng, p, pt, eta, phi, e, apdg, charge, trk, lost, nphot | nhad)
    pdg_out = np.where(trk, np.where(np.isin(apdg, (11, 13)), pdg, 211 * np.sign(charge)),
                       np.where(nphot, 22, 130)).astype(np.int32)
    mass = np.select([np.abs(pdg_out) == 211, np.abs(pdg_out) == 11, np.abs(pdg_out) == 13],
                     [PION_MASS, ELECTRON_MASS, MUON_MASS], 0.0)
    chg = np.where(trk, charge, 0).astype(np.int32)
    d0, d0err, dz, dzerr = _smeared_impact_parameters(rng, p, vx, vy, vz, phi, eta, pt, trk)
    return {
        "keep": trk | nphot | nhad,
        "pt": out_pt, "eta": out_eta, "phi": out_phi, "mass": mass,
        "charge": chg, "pdgId": pdg_out,
        "d0": d0, "d0Err": d0err, "dz": dz, "dzErr": dzerr,
    }


def _pf_kinds(rng: np.random.Generator, p: DetectorParams, pt: np.ndarray, eta: np.ndarray, e: np.ndarray,
              apdg: np.ndarray, charge: np.ndarray) -> tuple[np.ndarray, ...]:
    """Masks (track, lost track reaching the calorimeter, calorimeter photon, calorimeter hadron)."""
    charged = (charge != 0) & (np.abs(eta) < p.track_eta_max)
    eff = np.where(pt < 1.0, p.track_eff_low, p.track_eff_high)
    eff = np.where(apdg == 11, np.minimum(eff, p.electron_eff), eff)
    eff = np.where(apdg == 13, p.muon_eff, eff)
    u = rng.random(len(pt))
    trk = charged & (pt > p.track_pt_min) & (u < eff)
    lost = charged & ~trk & (pt > _curl_pt(p))  # untracked, but reaches the calorimeter
    # calorimeter candidates: photons / electrons -> EM; other hadrons -> hadronic; never muons
    em_like = (apdg == 22) | (apdg == 11)
    calo = (~charged | lost) & (np.abs(eta) < p.calo_eta_max) & (apdg != 13)
    return trk, lost, calo & em_like & (e > p.photon_e_min), calo & ~em_like & (e > p.nhad_e_min)


def _smear_pf(rng: np.random.Generator, p: DetectorParams, pt: np.ndarray, eta: np.ndarray, phi: np.ndarray,
              e: np.ndarray, apdg: np.ndarray, charge: np.ndarray, trk: np.ndarray, lost: np.ndarray,
              calo: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Measured (pT, η, φ): tracker resolution for tracks, calorimeter resolution for calorimeter candidates."""
    em_like = (apdg == 22) | (apdg == 11)
    out_pt = pt.copy()
    out_eta = eta.copy()
    out_phi = np.where(lost, bend(p, phi, pt, charge)[0], phi)
    g = rng.standard_normal((4, len(pt)))
    # tracks
    rel = np.hypot(p.track_pt_res_a, p.track_pt_res_b * pt)
    rel = np.where(apdg == 11, np.hypot(rel, p.electron_res), rel)
    out_pt = np.where(trk, pt * np.maximum(1 + rel * g[0], 0.05), out_pt)
    out_eta = np.where(trk, eta + p.track_angle_res * g[1], out_eta)
    out_phi = np.where(trk, phi + p.track_angle_res * g[2], out_phi)
    # calorimeter
    rel_cal = np.where(em_like, _res(e, p.em_res_a, p.em_res_c), _res(e, p.had_res_a, p.had_res_c))
    scale = np.maximum(1 + rel_cal * g[3], 0.05)
    out_pt = np.where(calo, pt * scale, out_pt)
    return out_pt, out_eta, wrap_phi(out_phi)


def _smeared_impact_parameters(rng: np.random.Generator, p: DetectorParams, vx: np.ndarray, vy: np.ndarray,
                               vz: np.ndarray, phi: np.ndarray, eta: np.ndarray, pt: np.ndarray,
                               trk: np.ndarray) -> tuple[np.ndarray, ...]:
    """(d0, σ_d0, dz, σ_dz) of tracks, smeared with σ_d0 = a ⊕ b/pT and σ_dz = f·σ_d0·√cosh η; 0 for others."""
    d0t, dzt = impact_parameters(vx, vy, vz, phi, eta)
    safe_pt = np.maximum(pt, 0.1)
    d0err = np.hypot(p.d0_res_a, p.d0_res_b / safe_pt)
    dzerr = p.dz_res_factor * d0err * np.sqrt(np.cosh(np.clip(eta, -5, 5)))
    g2 = rng.standard_normal((2, len(pt)))
    d0 = np.where(trk, d0t + d0err * g2[0], 0.0)
    dz = np.where(trk, dzt + dzerr * g2[1], 0.0)
    return d0, np.where(trk, d0err, 0.0), dz, np.where(trk, dzerr, 0.0)


def relative_isolation(
    lep_event: np.ndarray, lep_eta: np.ndarray, lep_phi: np.ndarray, lep_pt: np.ndarray,
    lep_cand: np.ndarray,
    cand_event: np.ndarray, cand_eta: np.ndarray, cand_phi: np.ndarray, cand_pt: np.ndarray,
    cone: float,
) -> np.ndarray:
    """Sum of candidate pT within ``cone`` of each lepton (itself excluded) / lepton pT.

    Events are given by sorted ``*_event`` indices; the work is one pairwise block per
    event containing leptons (leptons are few).
    """
    iso = np.zeros(len(lep_pt))
    if len(lep_pt) == 0:
        return iso
    starts = np.searchsorted(cand_event, lep_event, side="left")
    stops = np.searchsorted(cand_event, lep_event, side="right")
    for i in range(len(lep_pt)):
        s, t = starts[i], stops[i]
        de = cand_eta[s:t] - lep_eta[i]
        dp = delta_phi(cand_phi[s:t], lep_phi[i])
        inside = de * de + dp * dp < cone * cone
        inside[lep_cand[i] - s] = False
        iso[i] = cand_pt[s:t][inside].sum() / max(lep_pt[i], 1e-6)
    return iso


def btag_decision(
    rng: np.random.Generator, p: DetectorParams, flavour: np.ndarray, eta: np.ndarray
) -> np.ndarray:
    """Truth-based b-tag: 1 with probability eff_b (flavour 5), eff_c (4), eff_light (0).

    b-tagging needs tracks, so jets with abs(η) >= ``track_eta_max`` (2.5) are never tagged.
    """
    eff = np.select([flavour == 5, flavour == 4], [p.btag_eff_b, p.btag_eff_c], p.btag_eff_light)
    eff = np.where(np.abs(eta) < p.track_eta_max, eff, 0.0)
    return (rng.random(len(flavour)) < eff).astype(np.float32)


# ----------------------------------------------------------------------------- ECAL

@dataclass
class EcalDeposits:
    """Energy deposits at the ECAL front face (before the lateral shower spread)."""

    eta: np.ndarray = field(default_factory=lambda: np.zeros(0))
    phi: np.ndarray = field(default_factory=lambda: np.zeros(0))
    energy: np.ndarray = field(default_factory=lambda: np.zeros(0))
    time: np.ndarray = field(default_factory=lambda: np.zeros(0))
    em: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))  # EM (narrow) or hadronic (wide) profile

    def __len__(self) -> int:
        return len(self.eta)

    @staticmethod
    def concat(parts: list[EcalDeposits]) -> EcalDeposits:
        parts = [x for x in parts if len(x)]
        if not parts:
            return EcalDeposits()
        return EcalDeposits(*(np.concatenate([getattr(x, f.name) for x in parts]) for f in fields(EcalDeposits)))

    def select(self, mask: np.ndarray) -> EcalDeposits:
        return EcalDeposits(*(getattr(self, f.name)[mask] for f in fields(EcalDeposits)))


def bend(p: DetectorParams, phi: np.ndarray, pt: np.ndarray, charge: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """φ at the ECAL radius R of a track from the beam line in the solenoid field B.

    A helix of radius r = pT/(0.3·B) [m, GeV, T] crosses the cylinder of radius R at the
    azimuth φ_R = φ0 − q·asin(R/2r) = φ0 − q·asin(0.3·B·R/(2·pT)): positive charges turn
    clockwise in B along +z. ``pt`` must be the transverse momentum of the particle that
    travels (not a deposited energy). Second value: reaches the ECAL (neutral, or
    pT > k = 0.3·B·R/2 = 0.735 GeV for CMS; softer tracks curl up inside).
    """
    ratio = _curl_pt(p) / np.maximum(pt, 1e-6)
    reach = (charge == 0) | (ratio < 1)
    dphi = np.arcsin(np.clip(ratio, 0, 1))
    return phi - np.sign(charge) * dphi * (charge != 0), reach


def calorimetric_energy(e: np.ndarray, px: np.ndarray, py: np.ndarray, pz: np.ndarray,
                        pdg: np.ndarray) -> np.ndarray:
    """Energy a hadron can release in a calorimeter: E − m for baryons, E + m for antibaryons.

    A baryon keeps its baryon number, so only its kinetic energy T = E − m is available; an
    antibaryon annihilates and releases E + m; mesons (and everything else) release E.
    m = sqrt(max(E² − p², 0)). Baryons: PDG codes 1000 ≤ abs(pdg) < 10000 (e.g. p 2212, n 2112, Λ 3122).
    """
    m = np.sqrt(np.maximum(e * e - px * px - py * py - pz * pz, 0.0))
    apdg = np.abs(pdg)
    baryon = (apdg >= 1000) & (apdg < 10000)
    return np.where(baryon, e - np.sign(pdg) * m, e)


@dataclass
class _Legs:
    """Columnar list of ECAL front-face deposits under construction (one row per deposit)."""

    idx: list = field(default_factory=list)     # source particle
    energy: list = field(default_factory=list)  # deposited energy
    pt: list = field(default_factory=list)      # transverse momentum of what travels to the ECAL
    q: list = field(default_factory=list)       # its charge
    em: list = field(default_factory=list)      # EM (narrow) or hadronic (wide) profile

    def add(self, mask, energy, pt, q, em) -> None:
        i = np.nonzero(mask)[0]
        self.idx.append(i)
        for name, v in (("energy", energy), ("pt", pt), ("q", q)):
            getattr(self, name).append(v[i] if np.ndim(v) else np.full(len(i), v, float))
        self.em.append(np.full(len(i), em))

    def arrays(self) -> tuple[np.ndarray, ...]:
        return tuple(np.concatenate(getattr(self, f.name)) for f in fields(self))


def ecal_deposits(
    rng: np.random.Generator, p: DetectorParams, *,
    px: np.ndarray, py: np.ndarray, pz: np.ndarray, e: np.ndarray, pdg: np.ndarray, charge: np.ndarray,
    vz: np.ndarray | float = 0.0, t0: np.ndarray | float = 0.0, weight: np.ndarray | float = 1.0,
) -> EcalDeposits:
    """Deposits of visible particles in the ECAL barrel (see :func:`ecal_deposits_with_source`)."""
    return ecal_deposits_with_source(rng, p, px=px, py=py, pz=pz, e=e, pdg=pdg, charge=charge,
                                     vz=vz, t0=t0, weight=weight)[0]


def ecal_deposits_with_source(
    rng: np.random.Generator, p: DetectorParams, *,
    px: np.ndarray, py: np.ndarray, pz: np.ndarray, e: np.ndarray, pdg: np.ndarray, charge: np.ndarray,
    vz: np.ndarray | float = 0.0, t0: np.ndarray | float = 0.0, weight: np.ndarray | float = 1.0,
) -> tuple[EcalDeposits, np.ndarray]:
    """Deposits of visible particles in the ECAL barrel, and the input index of each deposit.

    Every deposit is bent with the transverse momentum of what travels to the ECAL, never with
    its deposited energy: Δφ = asin(0.3·B·R/(2·pT)) (:func:`bend`).

    * photons: unconverted → E at φ; converted (probability ``conversion_prob``) → two legs
      with momentum fractions z and 1 − z (z uniform), each bent with its own pT·z, pT·(1 − z);
    * electrons: a brem photon takes E·f_b (f_b uniform in [0, ``brem_frac_max``]) along φ, the
      electron keeps E·(1 − f_b) and is bent with its remaining pT·(1 − f_b);
    * muons and non-interacting charged hadrons: a MIP of min(``mip_energy``, E), bent with the
      particle's pT (they reach the ECAL when pT > 0.3·B·R/2);
    * hadrons interacting in the ECAL (probability ``had_interact_prob``): a fraction f uniform
      in ``had_ecal_frac`` of the calorimetric energy (:func:`calorimetric_energy`, E ∓ m for
      (anti)baryons), wide profile, charged ones bent with the particle's pT.

    ``vz`` (cm) shifts the impact: η_R = asinh(sinh η + vz/R); ``weight`` scales energies
    (out-of-time pulse fraction); ``t0`` is the arrival time offset (ns).
    """
    n = len(px)
    if n == 0:
        return EcalDeposits(), np.zeros(0, np.int64)
    vz, t0, weight = (np.broadcast_to(np.asarray(x, float), (n,)) for x in (vz, t0, weight))
    pt, eta, phi = pt_eta_phi(px, py, pz)
    apdg = np.abs(pdg)
    eta_f = np.arcsinh(np.sinh(np.clip(eta, -10, 10)) + vz / p.ecal_radius)  # impact eta after a z shift
    inb = (np.abs(eta_f) < p.ecal_eta_max + 0.05) & ~np.isin(apdg, (12, 14, 16))
    u = rng.random((3, n))
    legs = _Legs()
    photon = inb & (apdg == 22)
    conv = photon & (u[0] < p.conversion_prob)
    z = u[1]
    legs.add(photon & ~conv, e, pt, 0, True)
    legs.add(conv, e * z, pt * z, 1, True)
    legs.add(conv, e * (1 - z), pt * (1 - z), -1, True)
    ele = inb & (apdg == 11)
    fb = u[1] * p.brem_frac_max
    legs.add(ele, e * (1 - fb), pt * (1 - fb), charge, True)
    legs.add(ele, e * fb, pt * fb, 0, True)  # brem photon along the original direction
    mip = np.minimum(p.mip_energy, e)
    had = inb & (apdg != 22) & (apdg != 11) & (apdg != 13)
    inter = had & (u[2] < p.had_interact_prob)
    lo, hi = p.had_ecal_frac
    legs.add(inter, calorimetric_energy(e, px, py, pz, pdg) * (lo + (hi - lo) * u[1]), pt, charge, False)
    legs.add((inb & (apdg == 13)) | (had & ~inter & (charge != 0)), mip, pt, charge, True)
    idx, d_e, d_pt, d_q, d_em = legs.arrays()
    idx = idx.astype(np.int64)
    d_phi, reach = bend(p, phi[idx], d_pt, d_q)
    d_eta = eta_f[idx]
    ok = reach & (np.abs(d_eta) < p.ecal_eta_max) & (d_e > 0)
    # times are calibrated so that a particle from the nominal vertex arrives at t = 0
    dep = EcalDeposits(
        eta=d_eta[ok], phi=wrap_phi(d_phi)[ok],
        energy=(d_e * weight[idx])[ok], time=t0[idx][ok], em=d_em[ok].astype(bool),
    )
    return dep, idx[ok]


def shower_fractions(
    u: np.ndarray, v: np.ndarray, em: np.ndarray, p: DetectorParams, half: int
) -> np.ndarray:
    """Fraction of each deposit's energy in a (2*half+1)^2 crystal block around it.

    ``u, v`` are the impact positions inside the central crystal, in crystal units
    (crystal k covers [k, k+1), so 0 <= u, v < 1 for the central one). The lateral profile
    is a sum of two 2D Gaussians (core σ_c, tail σ_t, core fraction f_c, crystal units)
    integrated exactly over each crystal with erf:
    P_ij = f_c·S_i(σ_c)·S_j(σ_c) + (1 − f_c)·S_i(σ_t)·S_j(σ_t),
    S_k(σ) = ½[erf((k + 1 − u)/(√2 σ)) − erf((k − u)/(√2 σ))].
    The block keeps the whole deposit: f_ij = P_ij / Σ_block P (the hadronic tail, σ_t = 3
    crystals, has only ~83 % of its integral inside ±3 crystals; that energy is not lost, the
    kept shape is renormalised). Returns ``(n, 2h+1, 2h+1)`` summing to 1.
    """
    k = np.arange(-half, half + 1, dtype=float)
    su = np.where(em, p.em_core_sigma, p.had_core_sigma)[:, None]
    st = np.where(em, p.em_tail_sigma, p.had_tail_sigma)[:, None]
    fc = np.where(em, p.em_core_frac, p.had_core_frac)[:, None, None]

    def strip(x, s):
        lo = (k[None, :] - x[:, None]) / (np.sqrt(2) * s)
        hi = (k[None, :] + 1 - x[:, None]) / (np.sqrt(2) * s)
        return 0.5 * (erf(hi) - erf(lo))

    core = strip(u, su)[:, :, None] * strip(v, su)[:, None, :]
    tail = strip(u, st)[:, :, None] * strip(v, st)[:, None, :]
    prof = fc * core + (1 - fc) * tail
    return prof / prof.sum(axis=(1, 2), keepdims=True)


def crystal_ieta(eta: np.ndarray) -> np.ndarray:
    """Barrel crystal row of η: ieta = floor(η / 0.0174) (no ieta gap at η = 0, unlike CMSSW)."""
    return np.floor(eta / DETA).astype(np.int64)


def crystal_iphi(phi: np.ndarray) -> np.ndarray:
    """Barrel crystal column of φ: iphi = floor((φ mod 2π) / (2π/360)) in [0, 360)."""
    return np.floor((phi % (2 * np.pi)) / DPHI).astype(np.int64) % NPHI


def find_pileup_seeds(dep: EcalDeposits, p: DetectorParams, max_seeds: int) -> list[tuple[int, int]]:
    """Crystals whose impact-level energy is a local 3x3 maximum above the seed threshold."""
    if len(dep) == 0:
        return []
    ie = crystal_ieta(dep.eta) - IETA_MIN
    ip = crystal_iphi(dep.phi)
    ok = (ie >= 0) & (ie < IETA_MAX - IETA_MIN + 1)
    nrow = IETA_MAX - IETA_MIN + 1
    grid = np.bincount(ie[ok] * NPHI + ip[ok], weights=dep.energy[ok], minlength=nrow * NPHI).reshape(nrow, NPHI)
    # quick 3x3 box sum to seed on showers, then local maxima
    padded = np.pad(grid, ((1, 1), (0, 0)))
    box = sum(np.roll(padded, s, axis=1) for s in (-1, 0, 1))
    box = box[:-2] + box[1:-1] + box[2:]
    cand = np.argwhere(box > p.ecal_seed_threshold)
    if len(cand) == 0:
        return []
    vals = box[cand[:, 0], cand[:, 1]]
    order = np.argsort(-vals, kind="stable")
    seeds: list[tuple[int, int]] = []
    for r, c in cand[order]:
        if all(abs(r - a) > p.ecal_window // 2 or min(abs(c - b), NPHI - abs(c - b)) > p.ecal_window // 2
               for a, b in seeds):
            seeds.append((int(r), int(c)))
        if len(seeds) >= max_seeds:
            break
    return [(r + IETA_MIN, c) for r, c in seeds]


def build_ecal_cluster(
    rng: np.random.Generator, p: DetectorParams, dep: EcalDeposits, ieta0: int, iphi0: int,
) -> dict[str, Any] | None:
    """Crystal hits of a window around the most energetic crystal near (ieta0, iphi0).

    Deposits within a few crystals of the window are spread with the lateral profile,
    smeared (stochastic and constant terms per deposit, noise per crystal), given a
    time (energy-weighted deposit time plus resolution) and zero-suppressed. Only barrel
    crystals exist: rows with ieta = floor(η/0.0174) outside [−85, 84] are dropped (their
    energy leaks out of the barrel), so every hit and seed lies in the barrel. Returns
    None if no crystal passes zero suppression.
    """
    half = p.ecal_window // 2
    big = half + 2  # search region to recentre on the maximum
    sel, de, dp = _near_deposits(dep, ieta0, iphi0, big + 3)
    energy, t = _crystal_grid(rng, p, sel, de, dp, big, ieta0)
    # recentre on the maximum of the central 5x5 region
    sub = energy[big - 2: big + 3, big - 2: big + 3]
    mi, mj = np.unravel_index(np.argmax(sub), sub.shape)
    lo_i, lo_j = big - 2 + mi - half, big - 2 + mj - half
    win = energy[lo_i: lo_i + p.ecal_window, lo_j: lo_j + p.ecal_window]
    twin = t[lo_i: lo_i + p.ecal_window, lo_j: lo_j + p.ecal_window]
    keep = win > p.ecal_zs_threshold
    if not keep.any():
        return None
    ii, jj = np.nonzero(keep)
    he = win[ii, jj]
    sig_t = np.hypot(p.time_res_noise * p.ecal_noise / 0.05 / np.maximum(he, 1e-3), p.time_res_const)
    ht = twin[ii, jj] + sig_t * rng.standard_normal(len(he))
    hie = ieta0 + (lo_i - big) + ii
    hip = (iphi0 + (lo_j - big) + jj) % NPHI
    eta_c = (hie + 0.5) * DETA
    phi_rel = ((lo_j - big) + jj + 0.5) * DPHI
    etot = he.sum()
    ceta = float((he * eta_c).sum() / etot)
    cphi = float(wrap_phi(iphi0 * DPHI + (he * phi_rel).sum() / etot))
    seed = int(np.argmax(he))
    return {
        "energy": float(etot), "eta": ceta, "phi": cphi,
        "seedIeta": int(hie[seed]), "seedIphi": int(hip[seed]),
        "hit_ieta": hie.astype(np.int32), "hit_iphi": hip.astype(np.int32),
        "hit_energy": he.astype(np.float32), "hit_time": ht.astype(np.float32),
    }


def _near_deposits(dep: EcalDeposits, ieta0: int, iphi0: int,
                   spread: int) -> tuple[EcalDeposits, np.ndarray, np.ndarray]:
    """Deposits within ``spread`` crystals of (ieta0, iphi0), and their offsets from it in crystal units."""
    if len(dep):
        de = dep.eta / DETA - ieta0
        dp = delta_phi(dep.phi, (iphi0 + 0.5) * DPHI) / DPHI + 0.5
        near = (np.abs(de - 0.5) < spread + 1) & (np.abs(dp - 0.5) < spread + 1)
    else:
        near = np.zeros(0, bool)
    sel = dep.select(near)
    de = de[near] if len(dep) else np.zeros(0)
    dp = dp[near] if len(dep) else np.zeros(0)
    return sel, de, dp


def _crystal_grid(rng: np.random.Generator, p: DetectorParams, sel: EcalDeposits, de: np.ndarray, dp: np.ndarray,
                  big: int, ieta0: int) -> tuple[np.ndarray, np.ndarray]:
    """Energy and time of the (2·big+1)² crystals around (ieta0, ·): smeared, spread, plus noise; barrel only."""
    n = len(sel)
    size = 2 * big + 1
    energy = np.zeros((size, size))
    etime = np.zeros((size, size))
    if n:
        # per-deposit smearing (stochastic + constant), then lateral spread
        rel = np.sqrt(p.ecal_stochastic ** 2 / np.maximum(sel.energy, 1e-3) + p.ecal_constant ** 2)
        esm = sel.energy * np.maximum(1 + rel * rng.standard_normal(n), 0)
        # grid index of crystal containing the impact, relative to the big block
        ci = np.floor(de).astype(int)
        cj = np.floor(dp).astype(int)
        fr = shower_fractions(de - ci, dp - cj, sel.em, p, 3)  # (n, 7, 7) around the impact crystal
        ks = np.arange(-3, 4)
        rows = (ci[:, None] + ks[None, :]) + big  # (n, 7)
        cols = (cj[:, None] + ks[None, :]) + big
        r = np.broadcast_to(rows[:, :, None], fr.shape)
        c = np.broadcast_to(cols[:, None, :], fr.shape)
        w = fr * esm[:, None, None]
        inside = (r >= 0) & (r < size) & (c >= 0) & (c < size)
        flat = r[inside] * size + c[inside]
        energy = np.bincount(flat, weights=w[inside], minlength=size * size).reshape(size, size)
        tw = (w * sel.time[:, None, None])[inside]
        etime = np.bincount(flat, weights=tw, minlength=size * size).reshape(size, size)
    energy = energy + p.ecal_noise * rng.standard_normal((size, size))
    # only barrel crystals exist: rows with ieta outside [IETA_MIN, IETA_MAX] read nothing
    row_ieta = ieta0 - big + np.arange(size)
    energy[(row_ieta < IETA_MIN) | (row_ieta > IETA_MAX)] = 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(energy > 0, etime / np.where(energy != 0, energy, 1), 0.0)
    return energy, t
