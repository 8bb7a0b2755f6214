"""Model registry and architectures.

``dl4hep.models.specs`` is torch-free (config checks); the architectures and
:mod:`dl4hep.models.registry` import torch.
"""
