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

__all__ = [
    "DETA",
    "DPHI",
    "DetectorParams",
    "EcalDeposits",
    "build_ecal_cluster",
    "btag_decision",
    "ecal_deposits",
    "find_pileup_seeds",
    "impact_parameters",
    "make_pf_candidates",
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


# ----------------------------------------------------------------------------- kinematics

def pt_eta_phi(px: np.ndarray, py: np.ndarray, pz: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    pt = np.hypot(px, py)
    with np.errstate(divide="ignore", invalid="ignore"):
        eta = np.arcsinh(np.where(pt > 0, pz / np.maximum(pt, 1e-12), np.sign(pz) * 1e4))
    return pt, np.clip(eta, -20, 20), np.arctan2(py, px)


def delta_phi(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a - b + np.pi) % (2 * np.pi) - np.pi


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


def make_pf_candidates(
    rng: np.random.Generator,
    p: DetectorParams,
    *,
    px: np.ndarray, py: np.ndarray, pz: np.ndarray, e: np.ndarray,
    pdg: np.ndarray, charge: np.ndarray,
    vx: np.ndarray, vy: np.ndarray, vz: np.ndarray,
) -> dict[str, np.ndarray]:
    """Turn visible final-state particles into PF-like candidates.

    Charged particles inside the tracker become tracks (efficiency, pT and angle
    resolution, impact parameters from the true production vertex plus resolution);
    neutrals (and charged particles outside the tracker) become calorimeter
    candidates with energy resolution. Returns flat arrays plus ``keep`` (bool mask
    over the input particles) so callers can map candidates back to particles.
    """
    n = len(px)
    pt, eta, phi = pt_eta_phi(px, py, pz)
    apdg = np.abs(pdg)
    charged = (charge != 0) & (np.abs(eta) < p.track_eta_max)
    eff = np.where(pt < 1.0, p.track_eff_low, p.track_eff_high)
    eff = np.where(apdg == 11, np.minimum(eff, p.electron_eff), eff)
    eff = np.where(apdg == 13, p.muon_eff, eff)
    u = rng.random(n)
    trk = charged & (pt > p.track_pt_min) & (u < eff)
    # neutral candidates: photons / electrons outside tracker -> EM; other neutrals -> hadronic
    em_like = (apdg == 22) | (apdg == 11)
    neutral = ~charged & (np.abs(eta) < p.calo_eta_max) & (apdg != 13)
    nphot = neutral & em_like & (e > p.photon_e_min)
    nhad = neutral & ~em_like & (e > p.nhad_e_min)
    keep = trk | nphot | nhad

    out_pt = pt.copy()
    out_eta = eta.copy()
    out_phi = phi.copy()
    g = rng.standard_normal((4, n))
    # tracks
    rel = np.hypot(p.track_pt_res_a, p.track_pt_res_b * pt)
    rel = np.where(apdg == 11, np.hypot(rel, p.electron_res), rel)
    out_pt = np.where(trk, pt * np.maximum(1 + rel * g[0], 0.05), out_pt)
    out_eta = np.where(trk, eta + p.track_angle_res * g[1], out_eta)
    out_phi = np.where(trk, phi + p.track_angle_res * g[2], out_phi)
    # calorimeter
    rel_cal = np.where(em_like, _res(e, p.em_res_a, p.em_res_c), _res(e, p.had_res_a, p.had_res_c))
    scale = np.maximum(1 + rel_cal * g[3], 0.05)
    out_pt = np.where(nphot | nhad, pt * scale, out_pt)
    out_phi = (out_phi + np.pi) % (2 * np.pi) - np.pi

    pdg_out = np.where(trk, np.where(np.isin(apdg, (11, 13)), pdg, 211 * np.sign(charge)),
                       np.where(nphot, 22, 130)).astype(np.int32)
    mass = np.select([np.abs(pdg_out) == 211, np.abs(pdg_out) == 11, np.abs(pdg_out) == 13],
                     [PION_MASS, ELECTRON_MASS, MUON_MASS], 0.0)
    chg = np.where(trk, charge, 0).astype(np.int32)

    d0t, dzt = impact_parameters(vx, vy, vz, phi, eta)
    safe_pt = np.maximum(pt, 0.1)
    d0err = np.hypot(p.d0_res_a, p.d0_res_b / safe_pt)
    dzerr = p.dz_res_factor * d0err * np.sqrt(np.cosh(np.clip(eta, -5, 5)))
    g2 = rng.standard_normal((2, n))
    d0 = np.where(trk, d0t + d0err * g2[0], 0.0)
    dz = np.where(trk, dzt + dzerr * g2[1], 0.0)
    d0err = np.where(trk, d0err, 0.0)
    dzerr = np.where(trk, dzerr, 0.0)
    return {
        "keep": keep,
        "pt": out_pt, "eta": out_eta, "phi": out_phi, "mass": mass,
        "charge": chg, "pdgId": pdg_out,
        "d0": d0, "d0Err": d0err, "dz": dz, "dzErr": dzerr,
    }


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


def btag_decision(rng: np.random.Generator, p: DetectorParams, flavour: np.ndarray) -> np.ndarray:
    """Truth-based b-tag: 1 with probability eff_b (flavour 5), eff_c (4), eff_light (0)."""
    eff = np.select([flavour == 5, flavour == 4], [p.btag_eff_b, p.btag_eff_c], p.btag_eff_light)
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


def _bend(p: DetectorParams, phi: np.ndarray, pt: np.ndarray, charge: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """phi at the ECAL radius of a charged track in the solenoid; second value: reaches the ECAL."""
    k = 0.3 * p.bfield * (p.ecal_radius / 100.0) / 2.0  # GeV: pT below this curls up
    ratio = k / np.maximum(pt, 1e-6)
    reach = (charge == 0) | (ratio < 1)
    dphi = np.arcsin(np.clip(ratio, 0, 1))
    return phi - np.sign(charge) * dphi * (charge != 0), reach


def ecal_deposits(
    rng: np.random.Generator, p: DetectorParams, *,
    px: np.ndarray, py: np.ndarray, pz: np.ndarray, e: np.ndarray, pdg: np.ndarray, charge: np.ndarray,
    vz: np.ndarray | float = 0.0, t0: np.ndarray | float = 0.0, weight: np.ndarray | float = 1.0,
) -> EcalDeposits:
    """Deposits of visible particles in the ECAL barrel.

    Photons convert with probability ``conversion_prob`` into an e+e- pair sharing the
    energy (each leg bent by the field); electrons radiate a brem fraction deposited at
    their original direction; muons and non-interacting hadrons leave ``mip_energy``;
    interacting hadrons deposit a uniform fraction of their energy with a wide profile.
    ``vz`` (cm) shifts the impact eta (pileup vertices); ``weight`` scales energies
    (out-of-time pulse fraction); ``t0`` is the arrival time offset (ns).
    """
    n = len(px)
    if n == 0:
        return EcalDeposits()
    vz = np.broadcast_to(np.asarray(vz, float), (n,))
    t0 = np.broadcast_to(np.asarray(t0, float), (n,))
    weight = np.broadcast_to(np.asarray(weight, float), (n,))
    pt, eta, phi = pt_eta_phi(px, py, pz)
    apdg = np.abs(pdg)
    # impact eta after a vertex z shift
    zf = vz + p.ecal_radius * np.sinh(np.clip(eta, -10, 10))
    eta_f = np.arcsinh(zf / p.ecal_radius)
    inb = (np.abs(eta_f) < p.ecal_eta_max + 0.05) & (apdg != 12) & (apdg != 14) & (apdg != 16)
    u = rng.random((3, n))
    parts_eta, parts_phi, parts_e, parts_pt, parts_q, parts_em, parts_idx = [], [], [], [], [], [], []

    def add(mask, frac, q, em, phi_override=None):
        idx = np.nonzero(mask)[0]
        parts_idx.append(idx)
        parts_eta.append(eta_f[idx])
        parts_phi.append(phi[idx] if phi_override is None else phi_override[idx])
        fr = frac[idx] if np.ndim(frac) else np.full(len(idx), frac)
        parts_e.append(e[idx] * fr)
        parts_pt.append(pt[idx] * fr)
        parts_q.append(q[idx] if np.ndim(q) else np.full(len(idx), q))
        parts_em.append(np.full(len(idx), em))

    photon = inb & (apdg == 22)
    conv = photon & (u[0] < p.conversion_prob)
    z = u[1]
    add(photon & ~conv, 1.0, 0, True)
    add(conv, z, 1, True)
    add(conv, 1 - z, -1, True)
    ele = inb & (apdg == 11)
    fb = u[1] * p.brem_frac_max
    add(ele, 1 - fb, charge, True)
    add(ele, fb, 0, True)  # brem photon along the original direction
    mu = inb & (apdg == 13)
    add(mu, np.minimum(p.mip_energy / np.maximum(e, 1e-6), 1.0), charge, True)
    had = inb & (apdg != 22) & (apdg != 11) & (apdg != 13)
    inter = had & (u[2] < p.had_interact_prob)
    lo, hi = p.had_ecal_frac
    add(inter, lo + (hi - lo) * u[1], charge, False)
    add(had & ~inter & (charge != 0), np.minimum(p.mip_energy / np.maximum(e, 1e-6), 1.0), charge, True)

    idx = np.concatenate(parts_idx)
    d_eta = np.concatenate(parts_eta)
    d_phi0 = np.concatenate(parts_phi)
    d_e = np.concatenate(parts_e)
    d_pt = np.concatenate(parts_pt)
    d_q = np.concatenate(parts_q)
    d_em = np.concatenate(parts_em)
    d_phi, reach = _bend(p, d_phi0, d_pt, d_q)
    ok = reach & (np.abs(d_eta) < p.ecal_eta_max) & (d_e > 0)
    # times are calibrated so that a particle from the nominal vertex arrives at t = 0
    return EcalDeposits(
        eta=d_eta[ok], phi=((d_phi + np.pi) % (2 * np.pi) - np.pi)[ok],
        energy=(d_e * weight[idx])[ok], time=t0[idx][ok], em=d_em[ok],
    )


def shower_fractions(
    u: np.ndarray, v: np.ndarray, em: np.ndarray, p: DetectorParams, half: int
) -> np.ndarray:
    """Fraction of each deposit's energy in a (2*half+1)^2 crystal block around it.

    ``u, v`` are impact positions in crystal units relative to the centre of the
    block's central crystal's lower edge convention: crystal k covers [k, k+1).
    The lateral profile is a sum of two 2D Gaussians (core and tail, in crystal
    units) integrated exactly over each crystal with erf. Returns ``(n, 2h+1, 2h+1)``.
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
    return fc * core + (1 - fc) * tail


def _ieta(eta: np.ndarray) -> np.ndarray:
    return np.floor(eta / DETA).astype(np.int64)


def _iphi(phi: np.ndarray) -> np.ndarray:
    return np.floor((phi % (2 * np.pi)) / DPHI).astype(np.int64) % NPHI


def find_pileup_seeds(dep: EcalDeposits, p: DetectorParams, max_seeds: int) -> list[tuple[int, int]]:
    """Crystals whose impact-level energy is a local 3x3 maximum above the seed threshold."""
    if len(dep) == 0:
        return []
    ie = _ieta(dep.eta) - IETA_MIN
    ip = _iphi(dep.phi)
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
    time (energy-weighted deposit time plus resolution) and zero-suppressed. Returns
    None if no crystal passes zero suppression.
    """
    half = p.ecal_window // 2
    big = half + 2  # search region to recentre on the maximum
    spread = big + 3
    if len(dep):
        de = dep.eta / DETA - ieta0
        dp = ((dep.phi - (iphi0 + 0.5) * DPHI + np.pi) % (2 * np.pi) - np.pi) / DPHI + 0.5
        near = (np.abs(de - 0.5) < spread + 1) & (np.abs(dp - 0.5) < spread + 1)
    else:
        near = np.zeros(0, bool)
    sel = dep.select(near)
    de = de[near] if len(dep) else np.zeros(0)
    dp = dp[near] if len(dep) else np.zeros(0)
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
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(energy > 0, etime / np.where(energy != 0, energy, 1), 0.0)
    # recentre on the maximum of the central 5x5 region
    sub = energy[big - 2: big + 3, big - 2: big + 3]
    mi, mj = np.unravel_index(np.argmax(sub), sub.shape)
    ci0, cj0 = big - 2 + mi, big - 2 + mj
    lo_i, lo_j = ci0 - half, cj0 - half
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
    cphi = float(((iphi0 * DPHI + (he * phi_rel).sum() / etot) + np.pi) % (2 * np.pi) - np.pi)
    seed = int(np.argmax(he))
    return {
        "energy": float(etot), "eta": ceta, "phi": cphi,
        "seedIeta": int(hie[seed]), "seedIphi": int(hip[seed]),
        "hit_ieta": hie.astype(np.int32), "hit_iphi": hip.astype(np.int32),
        "hit_energy": he.astype(np.float32), "hit_time": ht.astype(np.float32),
    }
