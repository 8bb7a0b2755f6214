"""dl4hep.evaluation"""
