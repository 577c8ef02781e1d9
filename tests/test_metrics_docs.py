"""docs/operations.md's metrics table names every metric the gateway registers, with its type
and labels, and nothing else: the table cannot rot."""

from __future__ import annotations

import re
from pathlib import Path

from prometheus_client import REGISTRY
from prometheus_client.metrics import MetricWrapperBase

import services.metrics  # noqa: F401 - registers every metric of the gateway

REPO = Path(__file__).resolve().parents[1]
_ROW = re.compile(r"^\| `(agentgateway_[a-z_]+)` \| (counter|gauge|histogram) \| ([^|]*) \|")


def _documented() -> dict[str, tuple[str, tuple[str, ...]]]:
    text = (REPO / "docs" / "operations.md").read_text()
    section = text.split("\n## Metrics\n", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        found = _ROW.match(line)
        if found:
            name, kind, labels = found.groups()
            assert name not in rows, f"{name} is in the table twice"
            rows[name] = (kind, tuple(re.findall(r"`([a-z_]+)`", labels)))
    return rows


def _registered() -> dict[str, tuple[str, tuple[str, ...]]]:
    found = {}
    for collector in list(REGISTRY._collector_to_names):  # prometheus_client keeps no public list
        if isinstance(collector, MetricWrapperBase) and collector._name.startswith("agentgateway_"):
            name = collector._name + ("_total" if collector._type == "counter" else "")
            found[name] = (collector._type, tuple(collector._labelnames))
    return found


def test_the_metrics_table_is_every_registered_metric_with_its_type_and_labels() -> None:
    documented, registered = _documented(), _registered()
    assert len(registered) >= 10
    assert documented == registered
