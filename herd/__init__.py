"""herd: supervisord across a fleet, through SSH.

Layers, each importing only the ones before it:
inventory (load, validate, select) -> ssh (connect, host keys, tunnels) ->
supervisor (XML-RPC client, typed results) -> fleet (parallel fan-out) ->
operations (status, ...) -> cli and render.
"""

__version__ = "0.1.0"
