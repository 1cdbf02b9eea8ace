"""Job types beyond the default evaluation, one package each (`screen`: placement screening).

Each vertical is pure: validated request and reference data in, result and trace out.
"""
