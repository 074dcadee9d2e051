"""Prometheus series for what the console shows and operators alert on, read from the status store at scrape time
(so every API node reports the same numbers, and they agree with the store by construction).

- `govcast_deliveries_total{channel,outcome}`: delivery outcomes (delivered, retracted, retrying, failed, dead)
- `govcast_delivery_latency_seconds{channel}`: queued -> delivered, histogram
- `govcast_delivery_backlog{channel}`, `govcast_delivery_retries_waiting{channel}`, `govcast_dead_letters{channel}`
  (open ones), `govcast_channel_paused{channel}`, `govcast_held_publications`, `govcast_awaiting_review{channel}`
  (new-media copies waiting for an editor)
- inspection watch: `govcast_inspection_column_days{column}` (days since the column's last item; -1: never),
  `govcast_inspection_column_level{column}` and `govcast_inspection_account_level{channel}` (0 ok, 1 warn,
  2 alarm), `govcast_inspection_account_days{channel}`, `govcast_inspection_findings{check}`
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from persistence.operations import BACKLOG_STATES
from persistence.store import StatusStore
from producers.console.routes_home import inspection
from settings import Settings

log = logging.getLogger("govcast.api")
LATENCY_BOUNDS_MS = (100, 250, 500, 1000, 2500, 5000, 10_000, 30_000, 60_000, 300_000, 1_800_000)
OUTCOMES = ("delivered", "retracted", "retrying", "failed", "dead")
LEVELS = {"ok": 0, "warn": 1, "alarm": 2}


class ConsoleCollector(Collector):
    def __init__(self, store: StatusStore, settings: Settings) -> None:
        self.store = store
        self.settings = settings

    def collect(self) -> Iterator[Metric]:
        try:
            yield from self._deliveries()
            yield from self._inspection()
        except Exception:  # govcast_status_store_up says the store is down; a scrape never fails
            log.exception("metrics: console series could not be read")

    def _deliveries(self) -> Iterator[Metric]:
        channels = self.settings.channels
        totals = self.store.outcome_totals()
        counter = CounterMetricFamily("govcast_deliveries", "Delivery outcomes by channel", labels=["channel", "outcome"])
        for channel in channels:
            for outcome in OUTCOMES:
                counter.add_metric([channel, outcome], totals.get((channel, outcome), 0))
        yield counter
        histogram = HistogramMetricFamily("govcast_delivery_latency_seconds",
                                          "Time from queueing to delivery, per channel", labels=["channel"])
        buckets = self.store.latency_buckets(LATENCY_BOUNDS_MS)
        for channel in channels:
            counts, count, total_ms = buckets.get(channel, ([0] * len(LATENCY_BOUNDS_MS), 0, 0))
            histogram.add_metric([channel], [*((str(b / 1000), c) for b, c in zip(LATENCY_BOUNDS_MS, counts, strict=True)),
                                             ("+Inf", count)], total_ms / 1000)
        yield histogram
        states = self.store.delivery_states()
        dead = self.store.open_dead_letter_counts()
        paused = self.store.pauses()
        gauges = {
            "backlog": GaugeMetricFamily("govcast_delivery_backlog", "Channel deliveries not finished yet "
                                         "(queued, delivering, waiting for a paused channel)", labels=["channel"]),
            "retries": GaugeMetricFamily("govcast_delivery_retries_waiting", "Channel deliveries waiting for a retry",
                                         labels=["channel"]),
            "dead": GaugeMetricFamily("govcast_dead_letters", "Dead letters not requeued yet", labels=["channel"]),
            "paused": GaugeMetricFamily("govcast_channel_paused", "1 while an operator has paused the channel",
                                        labels=["channel"]),
            "review": GaugeMetricFamily("govcast_awaiting_review", "New-media copies waiting for an editor "
                                        "(GOVCAST_NEWMEDIA_REVIEW)", labels=["channel"]),
        }
        for channel in channels:
            gauges["backlog"].add_metric([channel], sum(states.get((channel, s), 0) for s in BACKLOG_STATES))
            gauges["retries"].add_metric([channel], states.get((channel, "retrying"), 0))
            gauges["dead"].add_metric([channel], dead.get(channel, 0))
            gauges["paused"].add_metric([channel], 1 if channel in paused else 0)
            gauges["review"].add_metric([channel], states.get((channel, "awaiting_review"), 0))
        yield from gauges.values()
        held = GaugeMetricFamily("govcast_held_publications", "Publications held by screening for operator review")
        held.add_metric([], self.store.counts_by_status().get("held", 0))
        yield held

    def _inspection(self) -> Iterator[Metric]:
        report = inspection(self.store, self.settings)
        yield from _staleness("column", "Days since the column's last item (-1: never)",
                              "Column staleness: 0 ok, 1 warn, 2 alarm", "column", report.columns)
        yield from _staleness("account", "Days since the new-media account last published (-1: never)",
                              "New-media silence: 0 ok, 1 warn, 2 alarm", "channel", report.accounts)
        findings = GaugeMetricFamily("govcast_inspection_findings", "Items an inspection would fault, per check",
                                     labels=["check"])
        findings.add_metric(["missing_interpretation"], len(report.missing_interpretations))
        findings.add_metric(["backdated"], len(report.backdated))
        findings.add_metric(["interpretation_of_invalid_policy"], len(report.invalid_policy_interpretations))
        yield findings


def _staleness(what: str, days_help: str, level_help: str, label: str, rows: Iterable[Any]) -> Iterator[Metric]:
    """The days and level gauges of one inspection-watch check (columns, accounts), one series per row."""
    days = GaugeMetricFamily(f"govcast_inspection_{what}_days", days_help, labels=[label])
    level = GaugeMetricFamily(f"govcast_inspection_{what}_level", level_help, labels=[label])
    for row in rows:
        days.add_metric([row.name], -1 if row.days is None else row.days)
        level.add_metric([row.name], LEVELS[row.level])
    yield days
    yield level
