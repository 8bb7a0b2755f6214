"""Model plugins: one file per architecture, the file name is the model type.

Each file has a torch-free head (``Params``, ``SPEC = ModelSpec(...)``) that config checks read
without importing torch, then the ``nn.Module`` named by ``SPEC.network``. See
:mod:`dl4hep.models` for the skeleton of a new plugin.
"""
