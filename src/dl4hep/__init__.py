"""dl4hep: deep learning for collider physics, from ROOT ntuples to physics results."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("dl4hep")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
