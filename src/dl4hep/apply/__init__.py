"""Applying a trained model to any ntuple (``dl4hep apply``) and inside coffea (:mod:`dl4hep.coffea`)."""
