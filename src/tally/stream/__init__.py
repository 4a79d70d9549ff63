"""Real-time analytics and alerting: events (HTTP, MQTT, tally's own ledger and hits) into
event-time windows, rules, and an Alertmanager-style alert lifecycle (see docs/stream.md).

Modules, in the order data flows: ``events`` → ``windows``/``aggregates`` → ``rules`` →
``alerts`` (+ ``silences``) → ``notifiers``; ``engine`` ties them together with ``rawlog``
(lake) and ``checkpoint``; ``inputs_mqtt``, ``inputs_tally`` and ``http`` feed it;
``service`` assembles it from settings (``settings``, ``builtin_rules``).
"""
