"""Analyses of SPA-VL: taxonomy, question difficulty, embedding diversity, ablations, plots, report."""
