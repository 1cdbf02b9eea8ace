"""The carrier-scoring vertical behind `evaluation` jobs: validate a profile, filter a pool
of carriers, score six dimensions, rank, explain, and trace it all. Pure code (no I/O, no
clock): the server and the scoring processes call it (docs/scoring.md)."""
