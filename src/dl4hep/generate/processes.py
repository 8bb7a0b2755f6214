"""Generator processes: validated settings and the Pythia 8 commands they stand for.

This module is imported at Snakefile parse time (``dl4hep.validate``), so it
must stay free of torch and pythia8: it only validates dictionaries and builds
lists of Pythia command strings. The Pythia run itself lives in
:mod:`dl4hep.generate.pythia_run`.

Every process is one pydantic model (``extra="forbid"``) registered in :data:`PROCESSES`
with :func:`register_process`; the ``process`` key of a sample's ``generator:`` block selects
it. A process class carries everything the generator needs to know of it: its settings
(fields), :meth:`Process.pythia_commands` and ClassVars (``ecal``, ``hard_process``,
``match_resonance``, ``prompt_pdg``). Adding a process is adding one class here. See
``docs/generation.md`` for the physics of each process.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal, TypeVar, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from dl4hep.errors import ConfigError, did_you_mean, format_validation_error
from dl4hep.plugins import Registry

__all__ = [
    "PROCESSES",
    "Process",
    "check_generator",
    "parse_generator",
    "pythia_commands",
    "register_process",
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


class Process(BaseModel):
    """A generator process: its settings (fields) and what the generator must know of it (ClassVars)."""

    model_config = ConfigDict(extra="forbid")

    #: The value of the ``process`` key (set by :func:`register_process`).
    name: ClassVar[str]
    #: Events get the ECAL simulation (clusters and crystal hits).
    ecal: ClassVar[bool] = False
    #: False: the events hold only pileup (no Pythia hard process; clusters seeded on pileup).
    hard_process: ClassVar[bool] = True
    #: PDG id of the resonance whose decay quarks define FatJet_isMatched; None: every jet matched;
    #: "none": no matching.
    match_resonance: ClassVar[int | None | Literal["none"]] = "none"
    #: PDG id of the prompt object required in the ECAL barrel (generator-level filter), or None.
    prompt_pdg: ClassVar[int | None] = None

    detector: DetectorOverrides = Field(default_factory=DetectorOverrides)

    def pythia_commands(self) -> list[str]:
        """Process-specific Pythia 8 commands (beam energy, seeds and decays are set elsewhere)."""
        raise NotImplementedError(f"{type(self).__name__} defines no Pythia commands")


PROCESSES: Registry[type[Process]] = Registry("generator process")
"""Process name (the ``process`` key) -> its class."""

P = TypeVar("P", bound=type[Process])


def register_process(cls: P) -> P:
    """Class decorator: register ``cls`` in :data:`PROCESSES` under the value of its ``process`` Literal."""
    (name,) = get_args(cls.__pydantic_fields__["process"].annotation)
    cls.name = name
    PROCESSES.register(name, cls)
    return cls


def _pthat(pthat_min: float, pthat_max: float) -> list[str]:
    cmds = [f"PhaseSpace:pTHatMin = {pthat_min}"]
    if pthat_max > 0:
        cmds.append(f"PhaseSpace:pTHatMax = {pthat_max}")
    return cmds


def _w_to_leptons(include_taus: bool) -> list[str]:
    return ["24:onMode = off", f"24:onIfAny = {'11 13 15' if include_taus else '11 13'}"]


class _Egamma(Process):
    """ECAL processes: pileup overlay settings."""

    ecal: ClassVar[bool] = True

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


class _Boosted(Process):
    pthat_min: float = Field(450.0, ge=0, description="Minimum pT of the hard 2->2 process (GeV).")
    pthat_max: float = Field(1100.0, ge=0, description="Maximum pT of the hard 2->2 process (GeV); <= 0: no limit.")

    @model_validator(mode="after")
    def _range(self) -> _Boosted:
        if self.pthat_max > 0 and self.pthat_max <= self.pthat_min:
            raise ValueError(f"pthat_max ({self.pthat_max}) must exceed pthat_min ({self.pthat_min})")
        return self


@register_process
class HwwDilepton(Process):
    """gg -> H -> WW* -> l nu l nu (l = e, mu; taus optional)."""

    process: Literal["hww_dilepton"]
    higgs_mass: float = Field(125.0, gt=0, description="Higgs boson mass (GeV).")
    include_taus: bool = Field(False, description="Also allow W -> tau nu.")

    def pythia_commands(self) -> list[str]:
        return ["HiggsSM:gg2H = on", f"25:m0 = {self.higgs_mass}", "25:onMode = off", "25:onIfMatch = 24 -24",
                *_w_to_leptons(self.include_taus)]


@register_process
class TtbarDilepton(Process):
    """tt -> b l nu b l nu (l = e, mu; taus optional)."""

    process: Literal["ttbar_dilepton"]
    include_taus: bool = Field(False, description="Also allow W -> tau nu.")

    def pythia_commands(self) -> list[str]:
        return ["Top:gg2ttbar = on", "Top:qqbar2ttbar = on", *_w_to_leptons(self.include_taus)]


@register_process
class QcdDijet(_Boosted):
    """Hard QCD 2->2 (all HardQCD processes, incl. heavy flavour)."""

    match_resonance: ClassVar[int | None | Literal["none"]] = None
    process: Literal["qcd_dijet"]

    def pythia_commands(self) -> list[str]:
        return ["HardQCD:all = on", *_pthat(self.pthat_min, self.pthat_max)]


@register_process
class TtbarHadronic(_Boosted):
    """tt -> b q q' b q q' (both W bosons decay hadronically)."""

    match_resonance: ClassVar[int | None | Literal["none"]] = 6
    process: Literal["ttbar_hadronic"]

    def pythia_commands(self) -> list[str]:
        return ["Top:gg2ttbar = on", "Top:qqbar2ttbar = on", "24:onMode = off", f"24:onIfAny = {_QUARKS}",
                *_pthat(self.pthat_min, self.pthat_max)]


@register_process
class WHadronic(_Boosted):
    """W + jet with W -> q q'."""

    match_resonance: ClassVar[int | None | Literal["none"]] = 24
    process: Literal["w_hadronic"]

    def pythia_commands(self) -> list[str]:
        return ["WeakBosonAndParton:qqbar2Wg = on", "WeakBosonAndParton:qg2Wq = on",
                "24:onMode = off", f"24:onIfAny = {_QUARKS}", *_pthat(self.pthat_min, self.pthat_max)]


@register_process
class ZHadronic(_Boosted):
    """Z + jet with Z -> q q (no gamma* interference)."""

    match_resonance: ClassVar[int | None | Literal["none"]] = 23
    process: Literal["z_hadronic"]

    def pythia_commands(self) -> list[str]:
        return ["WeakBosonAndParton:qqbar2gmZg = on", "WeakBosonAndParton:qg2gmZq = on",
                "WeakZ0:gmZmode = 2", "23:onMode = off", f"23:onIfAny = {_QUARKS}",
                *_pthat(self.pthat_min, self.pthat_max)]


@register_process
class HBb(_Boosted):
    """H + jet (gg -> Hg, qg -> Hq, qq -> Hg, top-loop resolved) with H -> b b."""

    match_resonance: ClassVar[int | None | Literal["none"]] = 25
    process: Literal["h_bb"]
    higgs_mass: float = Field(125.0, gt=0, description="Higgs boson mass (GeV).")

    def pythia_commands(self) -> list[str]:
        return ["HiggsSM:gg2Hg(l:t) = on", "HiggsSM:qg2Hq(l:t) = on", "HiggsSM:qqbar2Hg(l:t) = on",
                f"25:m0 = {self.higgs_mass}", "25:onMode = off", "25:onIfMatch = 5 -5",
                *_pthat(self.pthat_min, self.pthat_max)]


@register_process
class PromptPhoton(_Egamma):
    """Prompt photon production (PromptPhoton:all); the photon is required in the ECAL barrel."""

    prompt_pdg: ClassVar[int | None] = 22
    process: Literal["prompt_photon"]
    pthat_min: float = Field(15.0, ge=0, description="Minimum pT of the hard process (GeV).")
    pthat_max: float = Field(200.0, ge=0, description="Maximum pT of the hard process (GeV); <= 0: no limit.")
    eta_max: float = Field(1.44, gt=0, le=1.479, description="The prompt photon must have |eta| below this.")

    def pythia_commands(self) -> list[str]:
        return ["PromptPhoton:all = on", *_pthat(self.pthat_min, self.pthat_max)]


@register_process
class PromptElectron(_Egamma):
    """W -> e nu; the electron is required in the ECAL barrel."""

    prompt_pdg: ClassVar[int | None] = 11
    process: Literal["prompt_electron"]
    eta_max: float = Field(1.44, gt=0, le=1.479, description="The electron must have |eta| below this.")

    def pythia_commands(self) -> list[str]:
        return ["WeakSingleBoson:ffbar2W = on", "24:onMode = off", "24:onIfAny = 11"]


@register_process
class PileupOnly(_Egamma):
    """Only pileup (minimum-bias) interactions; ECAL clusters seeded by pileup energy."""

    hard_process: ClassVar[bool] = False
    process: Literal["pileup_only"]
    max_clusters: int = Field(4, ge=1, le=50, description="Keep at most this many pileup clusters per event.")

    def pythia_commands(self) -> list[str]:
        return []


def parse_generator(settings: dict[str, Any], *, where: str) -> Process:
    """Validate ``settings`` and return the process model; raise ConfigError naming ``where``."""
    if not isinstance(settings, dict):
        raise ConfigError(f"{where} must be a mapping with a 'process' key, got {type(settings).__name__}")
    if "process" not in settings:
        raise ConfigError(f"{where} has no 'process' key; valid processes: {PROCESSES.names()}")
    name = settings["process"]
    if name not in PROCESSES:
        raise ConfigError(
            f"{where}.process: unknown generator process '{name}'." + did_you_mean(str(name), PROCESSES.names())
            + f" Valid processes: {PROCESSES.names()}"
        )
    model = PROCESSES.get(name)
    try:
        return model.model_validate(settings)
    except ValidationError as exc:
        def allowed(parent: tuple[Any, ...]) -> list[str]:
            return list((DetectorOverrides if parent[:1] == ("detector",) else model).model_fields)

        msg = format_validation_error(exc, f"{where}: invalid settings for generator process '{name}':",
                                      prefix=where, allowed=allowed)
        raise ConfigError(msg) from None


def check_generator(settings: dict[str, Any], *, where: str) -> None:
    """Torch- and pythia-free validation of a sample's ``generator:`` block."""
    parse_generator(settings, where=where)


def pythia_commands(s: Process) -> list[str]:
    """Process-specific Pythia 8 commands of ``s`` (see :meth:`Process.pythia_commands`)."""
    return s.pythia_commands()
