"""The course module's six labs as guided tours: steps, checks from real state, explanations, summaries.

``tours`` defines the labs and their steps; ``state`` reads what exists (the
workspace's variants, the lab record of runs, the practice cloud) and decides
which steps are done; ``actions`` runs a step; ``why`` explains a result from
the measured evidence; ``summary`` writes the student's Markdown summary.
"""
