"""Measuring: runners for every format, the benchmark harness, speed, evaluation against the reference, batch sweeps, CPU/GPU metrics and CPU features."""
