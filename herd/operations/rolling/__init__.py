"""Health-gated rolling restarts: plan (pure), probes, gate (one process), state file, runner."""
