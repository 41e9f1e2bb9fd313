"""Metrics: numbers computed from frames and arrays (numpy and pandas only; no I/O, no plotting).

Distributions and divergences, question difficulty, text and embedding diversity, contamination,
image duplicates and properties, response-model outcomes.
"""
