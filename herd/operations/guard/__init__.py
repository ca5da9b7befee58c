"""``herd guard``: the fleet watched continuously; one alert per incident, and one recovery (docs/guard.md).

- rules.py: what is trouble (FATAL, EXITED unexpectedly, host unreachable; from the inventory also flapping,
  rss above X for T, probe failing N times, config pending for T), from FleetEvents and each poll;
- incidents.py: signals grouped across hosts, de-duplicated, rate-limited; what a message says;
- channels/: where messages go (webhook, Slack, email, a command), never blocking detection;
- state.py: open incidents across restarts of guard;
- engine.py: the loop joining them to the shared poller.
"""
