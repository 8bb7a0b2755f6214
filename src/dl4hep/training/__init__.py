"""dl4hep.training"""
