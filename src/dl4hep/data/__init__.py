"""dl4hep.data"""
