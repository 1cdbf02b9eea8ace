"""The job types' engines, one package each: `carriers` (evaluations: carrier scoring)
and `screen` (placement screening).

Each vertical is pure: validated request and reference data in, result and trace out.
"""
