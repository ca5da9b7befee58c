"""What herd does with a fleet: status (and, later, control, rolling, logs, check).

Operations take a Fleet and return plain result objects; they never print.
"""
