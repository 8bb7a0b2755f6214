"""dl4hep.models"""
