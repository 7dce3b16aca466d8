"""Making variants: recipes, the variant pipeline and its stages, quantizers, pruners, recovery fine-tuning, auto-tune, Pareto fronts and reports."""
