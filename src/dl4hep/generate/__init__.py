"""dl4hep.generate"""
