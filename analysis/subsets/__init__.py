"""Subsets: the sampler contract, the ablation pool and the recipes; every sampler returns row ids."""
