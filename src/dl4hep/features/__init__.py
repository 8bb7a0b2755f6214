"""dl4hep.features"""
