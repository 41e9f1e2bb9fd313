"""Embeddings: the sentence encoder, its backends and its vector cache."""
