"""Turning operation results into text for people (tables, colour) and JSON for scripts.

Only this package and herd.cli print or colour anything.
"""
