"""The real-Prometheus harness (tests/prom.py) proven on a static exposition served by the test, before
any exporter uses it (issue 10, "Tests with a real Prometheus"). Skips when the package is absent."""

from __future__ import annotations

import os
import shutil
import textwrap
from collections.abc import Callable
from pathlib import Path

import prom
import pytest

EXPOSITION = """\
# HELP demo_memory_bytes Memory by kind.
# TYPE demo_memory_bytes gauge
demo_memory_bytes{kind="anon"} 1048576
demo_memory_bytes{kind="file"} 2097152
# HELP demo_reads_total Reads.
# TYPE demo_reads_total counter
demo_reads_total 7
"""


def test_scrape_query_and_a_series_that_goes_away(prometheus: Callable[..., prom.Prometheus]) -> None:
    with prom.serve_exposition(EXPOSITION) as target:
        server = prometheus([target.target], interval=0.5)
        server.wait_scraped(2)
        (t,) = server.targets()
        assert t["health"] == "up" and t["scrapeUrl"] == f"http://{target.target}/metrics"
        assert server.value('sum(demo_memory_bytes{job="test"})') == 3 * 1048576
        assert server.values("demo_memory_bytes") == {
            (("__name__", "demo_memory_bytes"), ("instance", target.target), ("job", "test"), ("kind", k)): v
            for k, v in (("anon", 1048576.0), ("file", 2097152.0))}
        assert server.value("demo_reads_total") == 7
        assert server.value("up") == 1
        # A series missing from the next scrape is marked stale: an instant query no longer returns it
        # (what "a process that exits disappears" relies on).
        target.body = EXPOSITION.replace('demo_memory_bytes{kind="file"} 2097152\n', "")
        server.wait_for('demo_memory_bytes{kind="file"}', lambda r: not r, timeout=10)
        assert server.value('demo_memory_bytes{kind="anon"}') == 1048576
        assert target.requests >= 3
        now = float(server.query("time()")[0]["value"][1])
        rng = server.query_range('demo_memory_bytes{kind="anon"}', now - 2, now, 0.5)
        assert rng and all(v == "1048576" for _, v in rng[0]["values"])


def test_wait_for_times_out_with_the_targets_health(prometheus: Callable[..., prom.Prometheus]) -> None:
    server = prometheus([f"127.0.0.1:{prom.free_port()}"], interval=0.5)  # nobody listens there
    with pytest.raises(prom.PromError, match=r"condition not met.*targets http://127\.0\.0\.1:\d+/metrics"):
        server.wait_for("demo_memory_bytes", timeout=1.5)
    with pytest.raises(prom.PromError, match="bad_data"):
        server.query("sum(")


def test_stopped_and_removed_even_when_the_test_fails() -> None:
    prom.binary("prometheus")
    with pytest.raises(RuntimeError):
        with prom.start_prometheus(["127.0.0.1:1"], interval=1.0) as server:
            proc, workdir = server.proc, server.workdir
            assert workdir.is_dir() and (workdir.stat().st_mode & 0o777) == 0o700
            assert (os.stat(workdir / "prometheus.yml").st_mode & 0o777) == 0o600
            raise RuntimeError("the test failed")
    assert proc.poll() is not None
    assert not workdir.exists()


RULES = """\
groups:
  - name: demo
    rules:
      - alert: DemoAnonHigh
        expr: demo_memory_bytes{kind="anon"} > 1000
        for: 1s
        labels: {severity: warning}
        annotations:
          summary: "anon {{ $value | humanize1024 }}B"
"""


def test_rules_loaded_and_an_alert_fires(prometheus: Callable[..., prom.Prometheus], tmp_path: Path) -> None:
    rules = tmp_path / "rules.yml"
    rules.write_text(RULES)
    with prom.serve_exposition(EXPOSITION) as target:
        server = prometheus([target.target], interval=0.5, rule_files=[rules])
        (group,) = server.rules()
        assert group["name"] == "demo" and group["rules"][0]["health"] in ("ok", "unknown")
        server.wait_for('ALERTS{alertname="DemoAnonHigh",alertstate="firing"}', timeout=15)
        assert [a["labels"]["alertname"] for a in server.alerts()] == ["DemoAnonHigh"]


def test_promtool_check_metrics() -> None:
    assert prom.check_metrics(EXPOSITION).ok
    assert prom.check_metrics(EXPOSITION + "# EOF\n").ok
    bad = prom.check_metrics("# HELP foo x\n# TYPE foo counter\nfoo 1\n")
    assert bad.code == 3 and '"_total" suffix' in bad.output
    assert prom.check_metrics("garbage{\n").code == 1


def test_promtool_check_and_test_rules(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yml"
    rules.write_text(RULES)
    assert prom.check_rules(rules).ok, prom.check_rules(rules).output
    broken = tmp_path / "broken.yml"
    broken.write_text(RULES.replace('> 1000', '> > 1000'))
    assert not prom.check_rules(broken).ok
    unit = tmp_path / "unit.yml"
    unit.write_text(textwrap.dedent(f"""\
        rule_files: [{rules.name}]
        evaluation_interval: 1m
        tests:
          - interval: 1m
            input_series:
              - series: 'demo_memory_bytes{{kind="anon"}}'
                values: '2000x5'
            alert_rule_test:
              - eval_time: 2m
                alertname: DemoAnonHigh
                exp_alerts:
                  - exp_labels: {{severity: warning, kind: anon}}
                    exp_annotations: {{summary: "anon 1.953kiB"}}
        """))
    res = prom.test_rules(unit)
    assert res.ok, res.output


def test_skips_with_the_reason_when_absent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    assert shutil.which("prometheus") is None
    with pytest.raises(pytest.skip.Exception, match=r"prometheus is not installed \(apt-get install"):
        prom.start_prometheus(["127.0.0.1:1"])
    with pytest.raises(pytest.skip.Exception, match="promtool is not installed"):
        prom.check_metrics("")
