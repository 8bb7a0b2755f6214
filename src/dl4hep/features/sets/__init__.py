"""Feature sets, one module each; discovered by :mod:`dl4hep.features.registry`.

Each module here follows :class:`dl4hep.features.protocol.FeatureSet`. Adding a set is one
module in this package plus one task YAML under ``configs/tasks`` that names it.
"""
