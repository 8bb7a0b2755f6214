"""Reading ntuples and writing outputs safely."""
