"""The ``generate`` stage: Pythia 8 events through a fast detector into NanoAOD-style ROOT ntuples.

``dl4hep generate --config C --sample S --events N --seed K --out F.root`` (rule ``generate``)
writes one seeded chunk of a sample whose config has a ``generator:`` block.

Input: the analysis config (the sample's ``generator:`` settings). Output: ``F.root`` (``Events``
and ``Runs`` trees, branches in docs/ntuple-schema.md) and ``F.root.provenance.json``.

Modules:

- :mod:`~dl4hep.generate.api`: :func:`generate_sample` (the entry), the event loop and writing;
- :mod:`~dl4hep.generate.processes`: one pydantic class per process (settings, Pythia commands,
  what the generator needs of it), registered in ``PROCESSES``; torch- and pythia-free;
- :mod:`~dl4hep.generate.pythia_run`: the Pythia driver (batches as awkward arrays);
- :mod:`~dl4hep.generate.detector`: the numpy detector model (tracker, calorimeters, ECAL crystals);
- :mod:`~dl4hep.generate.events`: reconstruction of a batch, one builder per collection;
- :mod:`~dl4hep.generate.softdrop`, :mod:`~dl4hep.generate.make_mini_data`.

Physics and parameters: docs/generation.md. Importing this package imports nothing heavy;
``generate_sample`` is loaded on first use.
"""

from __future__ import annotations

from typing import Any

__all__ = ["generate_sample"]


def __getattr__(name: str) -> Any:
    if name == "generate_sample":
        from dl4hep.generate.api import generate_sample

        return generate_sample
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
