"""Synthetic data, a pandas reference implementation and timing of leadq."""
