"""Generator processes: validated settings and the Pythia 8 commands they stand for.

This module is imported at Snakefile parse time (``dl4hep.registry_checks``), so it
must stay free of torch and pythia8: it only validates dictionaries and builds
lists of Pythia command strings. The Pythia run itself lives in
:mod:`dl4hep.generate.pythia_run`.

Every process is one pydantic model with ``extra="forbid"``; the ``process`` key
selects the model. See ``docs/generation.md`` for the physics of each process.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from dl4hep.errors import ConfigError, did_you_mean

__all__ = [
    "PROCESSES",
    "GeneratorSettings",
    "check_generator",
    "parse_generator",
    "pythia_commands",
]

#: Default pileup pool bounds (see docs/generation.md, "Pileup"): at most POOL_SIZE minimum-bias
#: events per job, sized for a mean reuse of POOL_MAX_REUSE overlays per pool event.
POOL_SIZE = 5000
POOL_MAX_REUSE = 100.0
#: Hadronic decay modes of W/Z (d, u, s, c, b quarks).
_QUARKS = "1 2 3 4 5"


class DetectorOverrides(BaseModel):
    """Optional per-sample overrides of detector parameters (see docs/generation.md)."""

    model_config = ConfigDict(extra="forbid")

    track_pt_min: float | None = Field(None, gt=0, description="Minimum track pT (GeV).")
    btag_eff_b: float | None = Field(None, ge=0, le=1, description="b-tag efficiency for b jets.")
    btag_eff_c: float | None = Field(None, ge=0, le=1, description="b-tag mistag rate for c jets.")
    btag_eff_light: float | None = Field(None, ge=0, le=1, description="b-tag mistag rate for light jets.")
    ecal_noise: float | None = Field(None, ge=0, description="Per-crystal noise (GeV).")
    ecal_stochastic: float | None = Field(None, ge=0, description="ECAL stochastic term a in a/sqrt(E).")
    ecal_constant: float | None = Field(None, ge=0, description="ECAL constant term c.")
    ecal_window: int | None = Field(None, ge=3, le=11, description="Cluster window size in crystals (odd).")
    ecal_seed_threshold: float | None = Field(None, ge=0, description="Seed crystal threshold for pileup clusters (GeV).")


class _Base(BaseModel):
    model_config = ConfigDict(extra="forbid")

    detector: DetectorOverrides = Field(default_factory=DetectorOverrides)


class _Egamma(_Base):
    """ECAL processes: pileup overlay settings."""

    pileup_mu: float = Field(60.0, ge=0, le=300, description="Mean number of pileup interactions per bunch crossing.")
    pool_size: int = Field(
        POOL_SIZE, ge=10, le=100_000,
        description="Most minimum-bias events pre-generated per job for the pileup overlay "
        "(the pool holds min(pool_size, max(300, 3 x pileup_mu x events / pool_max_reuse)) events).",
    )
    pool_max_reuse: float = Field(
        POOL_MAX_REUSE, ge=1,
        description="Target mean number of times each pool event is overlaid in one job "
        "(pileup interactions drawn / pool events); reached unless pool_size caps the pool.",
    )


class _Boosted(_Base):
    pthat_min: float = Field(450.0, ge=0, description="Minimum pT of the hard 2->2 process (GeV).")
    pthat_max: float = Field(1100.0, ge=0, description="Maximum pT of the hard 2->2 process (GeV); <= 0: no limit.")

    @model_validator(mode="after")
    def _range(self) -> _Boosted:
        if self.pthat_max > 0 and self.pthat_max <= self.pthat_min:
            raise ValueError(f"pthat_max ({self.pthat_max}) must exceed pthat_min ({self.pthat_min})")
        return self


class HwwDilepton(_Base):
    """gg -> H -> WW* -> l nu l nu (l = e, mu; taus optional)."""

    process: Literal["hww_dilepton"]
    higgs_mass: float = Field(125.0, gt=0, description="Higgs boson mass (GeV).")
    include_taus: bool = Field(False, description="Also allow W -> tau nu.")


class TtbarDilepton(_Base):
    """tt -> b l nu b l nu (l = e, mu; taus optional)."""

    process: Literal["ttbar_dilepton"]
    include_taus: bool = Field(False, description="Also allow W -> tau nu.")


class QcdDijet(_Boosted):
    """Hard QCD 2->2 (all HardQCD processes, incl. heavy flavour)."""

    process: Literal["qcd_dijet"]


class TtbarHadronic(_Boosted):
    """tt -> b q q' b q q' (both W bosons decay hadronically)."""

    process: Literal["ttbar_hadronic"]


class WHadronic(_Boosted):
    """W + jet with W -> q q'."""

    process: Literal["w_hadronic"]


class ZHadronic(_Boosted):
    """Z + jet with Z -> q q (no gamma* interference)."""

    process: Literal["z_hadronic"]


class HBb(_Boosted):
    """H + jet (gg -> Hg, qg -> Hq, qq -> Hg, top-loop resolved) with H -> b b."""

    process: Literal["h_bb"]
    higgs_mass: float = Field(125.0, gt=0, description="Higgs boson mass (GeV).")


class PromptPhoton(_Egamma):
    """Prompt photon production (PromptPhoton:all); the photon is required in the ECAL barrel."""

    process: Literal["prompt_photon"]
    pthat_min: float = Field(15.0, ge=0, description="Minimum pT of the hard process (GeV).")
    pthat_max: float = Field(200.0, ge=0, description="Maximum pT of the hard process (GeV); <= 0: no limit.")
    eta_max: float = Field(1.44, gt=0, le=1.479, description="The prompt photon must have |eta| below this.")


class PromptElectron(_Egamma):
    """W -> e nu; the electron is required in the ECAL barrel."""

    process: Literal["prompt_electron"]
    eta_max: float = Field(1.44, gt=0, le=1.479, description="The electron must have |eta| below this.")


class PileupOnly(_Egamma):
    """Only pileup (minimum-bias) interactions; ECAL clusters seeded by pileup energy."""

    process: Literal["pileup_only"]
    max_clusters: int = Field(4, ge=1, le=50, description="Keep at most this many pileup clusters per event.")


PROCESSES: dict[str, type[_Base]] = {
    "hww_dilepton": HwwDilepton,
    "ttbar_dilepton": TtbarDilepton,
    "qcd_dijet": QcdDijet,
    "ttbar_hadronic": TtbarHadronic,
    "w_hadronic": WHadronic,
    "z_hadronic": ZHadronic,
    "h_bb": HBb,
    "prompt_photon": PromptPhoton,
    "prompt_electron": PromptElectron,
    "pileup_only": PileupOnly,
}

#: Processes whose events get the ECAL simulation (clusters and crystal hits).
ECAL_PROCESSES = {"prompt_photon", "prompt_electron", "pileup_only"}
#: Resonance whose decay products define FatJet_isMatched (None: every jet matched).
MATCH_RESONANCE: dict[str, int | None] = {
    "qcd_dijet": None,
    "ttbar_hadronic": 6,
    "w_hadronic": 24,
    "z_hadronic": 23,
    "h_bb": 25,
}

GeneratorSettings = _Base


def parse_generator(settings: dict[str, Any], *, where: str) -> _Base:
    """Validate ``settings`` and return the process model; raise ConfigError naming ``where``."""
    if not isinstance(settings, dict):
        raise ConfigError(f"{where} must be a mapping with a 'process' key, got {type(settings).__name__}")
    if "process" not in settings:
        raise ConfigError(f"{where} has no 'process' key; valid processes: {sorted(PROCESSES)}")
    name = settings["process"]
    if name not in PROCESSES:
        raise ConfigError(
            f"{where}.process: unknown generator process '{name}'." + did_you_mean(str(name), PROCESSES)
            + f" Valid processes: {sorted(PROCESSES)}"
        )
    model = PROCESSES[name]
    try:
        return model.model_validate(settings)
    except ValidationError as exc:
        msgs = []
        for err in exc.errors():
            loc = ".".join(str(x) for x in err["loc"])
            if err["type"] == "extra_forbidden":
                key = str(err["loc"][-1])
                if len(err["loc"]) > 1 and err["loc"][0] == "detector":
                    allowed = list(DetectorOverrides.model_fields)
                else:
                    allowed = list(model.model_fields)
                msgs.append(
                    f"{where}.{loc}: unknown key '{key}' for process '{name}'." + did_you_mean(key, allowed)
                    + f" Allowed keys: {sorted(allowed)}"
                )
            else:
                msgs.append(f"{where}.{loc}: {err['msg']} (got {err.get('input')!r})")
        raise ConfigError("; ".join(msgs)) from None


def check_generator(settings: dict[str, Any], *, where: str) -> None:
    """Torch- and pythia-free validation of a sample's ``generator:`` block."""
    parse_generator(settings, where=where)


def _pthat(s: _Boosted | PromptPhoton) -> list[str]:
    cmds = [f"PhaseSpace:pTHatMin = {s.pthat_min}"]
    if s.pthat_max > 0:
        cmds.append(f"PhaseSpace:pTHatMax = {s.pthat_max}")
    return cmds


def pythia_commands(s: _Base) -> list[str]:
    """Process-specific Pythia 8 commands (beam energy, seeds and decays are set elsewhere)."""
    name = s.process  # type: ignore[attr-defined]
    lep = "11 13 15" if getattr(s, "include_taus", False) else "11 13"
    if name == "hww_dilepton":
        return [
            "HiggsSM:gg2H = on", f"25:m0 = {s.higgs_mass}",  # type: ignore[attr-defined]
            "25:onMode = off", "25:onIfMatch = 24 -24",
            "24:onMode = off", f"24:onIfAny = {lep}",
        ]
    if name == "ttbar_dilepton":
        return ["Top:gg2ttbar = on", "Top:qqbar2ttbar = on", "24:onMode = off", f"24:onIfAny = {lep}"]
    if name == "qcd_dijet":
        return ["HardQCD:all = on", *_pthat(s)]  # type: ignore[arg-type]
    if name == "ttbar_hadronic":
        return ["Top:gg2ttbar = on", "Top:qqbar2ttbar = on", "24:onMode = off", f"24:onIfAny = {_QUARKS}",
                *_pthat(s)]  # type: ignore[arg-type]
    if name == "w_hadronic":
        return ["WeakBosonAndParton:qqbar2Wg = on", "WeakBosonAndParton:qg2Wq = on",
                "24:onMode = off", f"24:onIfAny = {_QUARKS}", *_pthat(s)]  # type: ignore[arg-type]
    if name == "z_hadronic":
        return ["WeakBosonAndParton:qqbar2gmZg = on", "WeakBosonAndParton:qg2gmZq = on",
                "WeakZ0:gmZmode = 2", "23:onMode = off", f"23:onIfAny = {_QUARKS}",
                *_pthat(s)]  # type: ignore[arg-type]
    if name == "h_bb":
        return ["HiggsSM:gg2Hg(l:t) = on", "HiggsSM:qg2Hq(l:t) = on", "HiggsSM:qqbar2Hg(l:t) = on",
                f"25:m0 = {s.higgs_mass}", "25:onMode = off", "25:onIfMatch = 5 -5",  # type: ignore[attr-defined]
                *_pthat(s)]  # type: ignore[arg-type]
    if name == "prompt_photon":
        return ["PromptPhoton:all = on", *_pthat(s)]  # type: ignore[arg-type]
    if name == "prompt_electron":
        return ["WeakSingleBoson:ffbar2W = on", "24:onMode = off", "24:onIfAny = 11"]
    if name == "pileup_only":
        return []
    raise ConfigError(f"no Pythia commands for process '{name}'")  # pragma: no cover
