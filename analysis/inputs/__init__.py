"""Inputs: what the analyses read from a source (labelled frames, image bytes and their hashes)."""
