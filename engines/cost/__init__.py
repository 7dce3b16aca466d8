"""Cost: the price catalog, the cost model and the cost report of a variant."""
