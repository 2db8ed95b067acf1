"""Issue 10, ``memtype exporter`` without a live machine: the collector over a captured root's Model
(tests/fixtures), the exposition through prometheus_client's parser, the HTTP server's negotiation
(text, OpenMetrics ending ``# EOF``, gzip), the textfile writer's safety, and the command's errors.

Every server a test starts is closed, and every file it writes lies in its tmp_path.
"""

from __future__ import annotations

import gzip
import os
import re
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("prometheus_client", reason="the exporter extra (prometheus-client) is not installed")

from prometheus_client import CollectorRegistry, make_wsgi_app
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families

from conftest import GPU_ROOT, get_sample_model
from memtype.exporter.collector import OTHER, MemtypeCollector, Options, SampleOnly, Snapshot
from memtype.exporter.metrics import label_value, select
from memtype.exporter.serve import DEFAULT_PORT, CachedApp, Server, parse_listen, render, write_textfile
from memtype.kinds import KINDS, Kind
from memtype.model.derive import Model
from memtype.model.fields_process import group_registry
from memtype.model.records import ProcessMemory
from memtype.model.sampling import SamplerStatus

NAME = re.compile(r"^memtype_[a-z][a-z0-9_]*$")
BASE_UNITS = ("_bytes", "_seconds", "_ratio", "_total", "_pages")


def registry_over(model: Model | None, options: Options | None = None) -> CollectorRegistry:
    status = SamplerStatus(15.0, 0.15)
    if model is not None:
        status.add(None, model, time.time())
    snap = None if model is None else Snapshot(model, status)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(MemtypeCollector(lambda: snap, options))
    return registry


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            key = (s.name, tuple(sorted(s.labels.items())))
            assert key not in out, f"duplicate series {key}"
            out[key] = s.value
    return out


def series(found: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> dict[
        tuple[tuple[str, str], ...], float]:
    return {k[1]: v for k, v in found.items() if k[0] == name and all((a, b) in k[1] for a, b in labels.items())}


@pytest.fixture
def model() -> Model:
    return get_sample_model()


def test_issue10_exposition_parses_and_follows_the_naming_guide(model: Model) -> None:
    text = render(registry_over(model)).decode()
    fams = list(text_string_to_metric_families(text))
    assert len(fams) > 20
    for fam in fams:
        assert NAME.match(fam.name), fam.name
        assert fam.documentation and "\n" not in fam.documentation
        if fam.type == "counter":
            assert all(s.name.endswith("_total") for s in fam.samples), fam.name
        if fam.name.endswith(("_percent", "_microseconds", "_kb", "_mib")):
            pytest.fail(f"{fam.name} is not in a base unit")
        if fam.type == "gauge" and fam.name.endswith("_total"):
            pytest.fail(f"{fam.name}: _total on a gauge")
    names = {f.name for f in fams}
    assert {"memtype_system_row_bytes", "memtype_group_program_kind_pss_bytes", "memtype_sampler_ticks",
            "memtype_sampler_data_age_seconds", "memtype_exporter_info"} <= names


def test_issue10_machine_rows_sum_to_memtotal(model: Model) -> None:
    found = samples(render(registry_over(model)).decode())
    rows = series(found, "memtype_system_row_bytes")
    total = found[("memtype_system_total_bytes", ())]
    assert model.machine is not None and total == model.machine.total
    assert sum(rows.values()) == total
    assert {dict(k)["row"] for k in rows} == {r.id for r in model.machine.rows if r.bytes is not None}
    # meminfo has no device figure: no series, never 0
    assert (("row", "device"),) not in rows and model.machine.row("device") is None


def test_issue10_groups_by_kind_add_up_and_never_mix_rss_and_pss(model: Model) -> None:
    found = samples(render(registry_over(model)).decode())
    procs = model.scan.processes
    for part in ("pss", "rss", "swap"):
        by_kind = series(found, f"memtype_group_program_kind_{part}_bytes")
        assert {dict(k)["kind"] for k in by_kind} == {k.value for k in KINDS}
        assert sum(by_kind.values()) == sum(getattr(p.totals, part) for p in procs)
        for (labels, value) in by_kind.items():
            assert set(dict(labels)) == {"program", "kind"}
    prog = max(procs, key=lambda p: p.totals.pss).program
    cow = series(found, "memtype_group_program_kind_pss_bytes", program=prog, kind="cow")
    assert list(cow.values()) == [sum(p.categories[Kind.COW].pss for p in procs if p.program == prog)]
    counts = series(found, "memtype_group_program_members")
    assert sum(counts.values()) == len(procs)


def test_issue10_groups_past_the_limit_are_summed_in_other(model: Model) -> None:
    found = samples(render(registry_over(model, Options(groups=1))).decode())
    pss = series(found, "memtype_group_program_kind_pss_bytes")
    programs = {dict(k)["program"] for k in pss}
    assert len(programs) == 2 and OTHER in programs
    assert sum(pss.values()) == sum(p.totals.pss for p in model.scan.processes)
    biggest = max({p.program for p in model.scan.processes},
                  key=lambda g: sum(p.totals.pss for p in model.scan.processes if p.program == g))
    assert biggest in programs


def test_issue10_per_process_series_only_on_request(model: Model) -> None:
    plain = samples(render(registry_over(model)).decode())
    assert not [k for k in plain if "pid" in dict(k[1])], "per-PID series without --top/--pid/--name"
    top = samples(render(registry_over(model, Options(top=2))).decode())
    pids = {dict(k[1])["pid"] for k in top if k[0].startswith("memtype_process_")}
    biggest = sorted(model.scan.processes, key=lambda p: p.totals.pss, reverse=True)[:2]
    assert pids == {str(p.pid) for p in biggest}
    pid = model.scan.processes[0].pid
    chosen = samples(render(registry_over(model, Options(pids=[pid], name=re.compile("^nomatch$")))).decode())
    assert {dict(k[1])["pid"] for k in chosen if k[0].startswith("memtype_process_")} == {str(pid)}
    text = render(registry_over(model, Options(top=100))).decode()
    assert "cmdline" not in text


def test_issue10_unknown_is_no_series(model: Model) -> None:
    """A figure made from an smaps field this kernel does not print is unknown: no series, not 0."""
    host = model.scan.host.replace(smaps_absent=frozenset({"SwapPss"}))
    older = model.replace(scan=model.scan.replace(host=host))
    opts = Options(metrics=select(group_registry("program"), ["kind.swap_pss", "swap_pss", "kind.pss"]))
    found = samples(render(registry_over(older, opts)).decode())
    assert not [k for k in found if "swap_pss" in k[0]]
    assert series(found, "memtype_group_program_kind_pss_bytes")


def test_issue10_an_exited_process_leaves_no_series(model: Model) -> None:
    """Fresh families per scrape: a Model without a process has none of its series (no stale ones)."""
    gone = max(model.scan.processes, key=lambda p: p.totals.pss)
    without = model.replace(scan=model.scan.replace(processes=[p for p in model.scan.processes if p is not gone]))
    state: list[Model] = [model]
    registry = CollectorRegistry(auto_describe=False)
    status = SamplerStatus()
    registry.register(MemtypeCollector(lambda: Snapshot(state[0], status), Options(pids=[gone.pid])))
    assert f'pid="{gone.pid}"' in render(registry).decode()
    state[0] = without
    assert f'pid="{gone.pid}"' not in render(registry).decode()


def _weird(model: Model, comm: str) -> Model:
    p = model.scan.processes[0]
    odd = ProcessMemory(p.pid, comm, p.uid, p.user, p.ppid, p.starttime, p.totals, p.categories, exe=None)
    return model.replace(scan=model.scan.replace(processes=[odd, *model.scan.processes[1:]]))


@pytest.mark.parametrize("comm", ['a"b', "back\\slash", "new\nline", "bad\udcffbyte", "tab\there", "ümlaut"])
def test_issue10_label_values_are_escaped(model: Model, comm: str) -> None:
    weird = _weird(model, comm)
    pid = str(weird.scan.processes[0].pid)
    text = render(registry_over(weird, Options(pids=[int(pid)]))).decode()
    for parse in (text_string_to_metric_families,):
        comms = {s.labels["comm"] for fam in parse(text) for s in fam.samples if s.labels.get("pid") == pid}
        assert comms == {label_value(comm)}
    om = render(registry_over(weird, Options(pids=[int(pid)])), openmetrics=True).decode()
    comms = {s.labels["comm"] for fam in parse_openmetrics(om) for s in fam.samples if s.labels.get("pid") == pid}
    assert comms == {label_value(comm)}
    assert label_value("bad\udcffbyte") == "bad\\xffbyte" != label_value("bad\udcfebyte")


def test_issue10_openmetrics_ends_with_eof(model: Model) -> None:
    text = render(registry_over(model), openmetrics=True).decode()
    assert text.endswith("# EOF\n")
    fams = list(parse_openmetrics(text))
    units = {f.name: f.unit for f in fams}
    assert units["memtype_system_row_bytes"] == "bytes"
    assert units["memtype_sampler_cpu_seconds"] == "seconds"


def test_issue10_before_the_first_sample_only_the_info_metric() -> None:
    text = render(registry_over(None)).decode()
    assert [f.name for f in text_string_to_metric_families(text)] == ["memtype_exporter_info"]


def test_issue10_describe_reads_nothing(model: Model) -> None:
    calls: list[int] = []

    def latest() -> Snapshot | None:
        calls.append(1)
        return None

    collector = MemtypeCollector(latest, Options(top=3))
    names = {m.name for m in collector.describe()}
    assert not calls and "memtype_process_kind_pss_bytes" in names and "memtype_cgroup_charged_bytes" in names


@pytest.fixture
def server(model: Model) -> Iterator[Server]:
    srv = Server(make_wsgi_app(registry_over(model)), "127.0.0.1", 0)
    srv.start()
    try:
        yield srv
    finally:
        srv.close()


def _get(url: str, **headers: str) -> tuple[dict[str, str], bytes]:
    req = urllib.request.Request(url, headers=headers)
    with urllib.request.urlopen(req, timeout=10) as resp:
        return {k.lower(): v for k, v in resp.headers.items()}, resp.read()


def test_issue10_http_negotiates_text_openmetrics_and_gzip(server: Server) -> None:
    head, body = _get(server.url)
    assert head["content-type"].startswith("text/plain; version=0.0.4") and not body.endswith(b"# EOF\n")
    assert list(text_string_to_metric_families(body.decode()))
    head, body = _get(server.url, Accept="application/openmetrics-text; version=1.0.0; charset=utf-8")
    assert head["content-type"].startswith("application/openmetrics-text") and body.endswith(b"# EOF\n")
    head, body = _get(server.url, **{"Accept-Encoding": "gzip"})
    assert head.get("content-encoding") == "gzip"
    assert list(text_string_to_metric_families(gzip.decompress(body).decode()))
    _, body = _get(server.url + "?name[]=memtype_system_total_bytes")
    assert [f.name for f in text_string_to_metric_families(body.decode())] == ["memtype_system_total_bytes"]


def test_issue10_answers_are_encoded_once_per_sample(model: Model) -> None:
    """The HTTP answer's families are a function of the snapshot: encoded once per sample and format
    (prewarmed by the sampler thread), never served from an older sample; the data's age is live."""
    calls: list[int] = []
    status = SamplerStatus()
    status.add(None, model, time.time() - 3.0)
    state: list[Snapshot] = [Snapshot(model, status)]

    def latest() -> Snapshot:
        calls.append(1)
        return state[0]

    collector = MemtypeCollector(latest, Options())
    per_sample = CollectorRegistry(auto_describe=False)
    per_sample.register(SampleOnly(collector))
    app = CachedApp(per_sample, lambda: state[0], lambda snap: collector.live_families(state[0]))
    srv = Server(app, "127.0.0.1", 0)
    srv.start()
    try:
        head, first = _get(srv.url, **{"Accept-Encoding": "gzip"})
        assert head.get("content-encoding") == "gzip"
        n = len(calls)
        _, second = _get(srv.url, **{"Accept-Encoding": "gzip"})
        assert len(calls) == n, "encoded twice (only the live families are made again)"
        one, two = samples(gzip.decompress(first).decode()), samples(gzip.decompress(second).decode())
        age = ("memtype_sampler_data_age_seconds", ())
        assert 3.0 <= one[age] <= two[age] < 60
        assert {k: v for k, v in one.items() if k != age} == {k: v for k, v in two.items() if k != age}
        om = _get(srv.url, Accept="application/openmetrics-text; version=1.0.0")[1].decode()
        assert om.endswith("# EOF\n") and om.count("# EOF") == 1 and "memtype_sampler_data_age_seconds" in om
        assert list(parse_openmetrics(om))
        only = _get(srv.url + "?name[]=memtype_system_total_bytes")[1].decode()
        assert [f.name for f in text_string_to_metric_families(only)] == ["memtype_system_total_bytes"]
        fewer = model.replace(scan=model.scan.replace(processes=model.scan.processes[:1]))
        state[0] = Snapshot(fewer, status)
        app.prewarm(state[0])  # what the sampler thread does before a sample is served
        n = len(calls)
        again = samples(_get(srv.url)[1].decode())
        assert len(calls) == n, "the prewarmed answer was not used"
        assert len(series(again, "memtype_group_program_members")) == 1
    finally:
        srv.close()


def test_issue10_a_busy_port_is_one_line() -> None:
    with pytest.raises(Exception, match=r"^cannot listen on 127\.0\.0\.1:\d+: ") as got:
        first = Server(make_wsgi_app(CollectorRegistry()), "127.0.0.1", 0)
        try:
            Server(make_wsgi_app(CollectorRegistry()), "127.0.0.1", first.port)
        finally:
            first.close()
    assert "\n" not in str(got.value)


@pytest.mark.parametrize(("text", "want"), [("127.0.0.1:9", ("127.0.0.1", 9)), ("[::1]:10", ("::1", 10)),
                                            (":11", ("0.0.0.0", 11)), ("12", ("127.0.0.1", 12)),
                                            ("localhost:0", ("localhost", 0))])
def test_issue10_listen_addresses(text: str, want: tuple[str, int]) -> None:
    assert parse_listen(text) == want


@pytest.mark.parametrize("text", ["", "host", "1.2.3.4:", "::1:80", "h:65536", "h:-1", "h:１２", "[::1]"])
def test_issue10_bad_listen_addresses(text: str) -> None:
    with pytest.raises(ValueError):
        parse_listen(text)


def test_issue10_textfile_is_replaced_atomically_and_never_through_a_link(tmp_path: Path, model: Model) -> None:
    target = tmp_path / "memtype.prom"
    victim = tmp_path / "victim"
    victim.write_text("keep me")
    target.symlink_to(victim)  # a link planted where the file goes: replaced, not followed
    data = render(registry_over(model))
    write_textfile(str(target), data)
    assert not target.is_symlink() and target.read_bytes() == data and victim.read_text() == "keep me"
    assert (target.stat().st_mode & 0o777) == 0o644
    write_textfile(str(target), b"# new\n")
    assert target.read_bytes() == b"# new\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["memtype.prom", "victim"], "a temporary file was left"


def test_issue10_textfile_errors_are_one_line(tmp_path: Path) -> None:
    from memtype.errors import OutputError

    with pytest.raises(OutputError, match="^cannot write .*missing/x.prom: .*: No such file or directory$"):
        write_textfile(str(tmp_path / "missing" / "x.prom"), b"")
    (tmp_path / "dir.prom").mkdir()
    with pytest.raises(OutputError, match="^cannot write "):
        write_textfile(str(tmp_path / "dir.prom"), b"")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dir.prom"]


# -- the command -------------------------------------------------------------------------------

def test_issue10_once_on_a_capture(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    r = run_cli("exporter", "--root", str(GPU_ROOT), "--once")
    assert r.code == 0, r.err
    found = samples(r.out)
    assert sum(series(found, "memtype_system_row_bytes").values()) == found[("memtype_system_total_bytes", ())]
    out = tmp_path / "m.prom"
    r = run_cli("exporter", "--root", str(GPU_ROOT), "--once", "--textfile", str(out), "--group", "user",
                "--top", "2")
    assert r.code == 0 and r.out == "", r.err
    text = out.read_text()
    assert "memtype_group_user_kind_pss_bytes{" in text and 'pid="' in text


def test_issue10_without_prometheus_client_one_line(run_cli, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "prometheus_client" else real(name, *a))
    r = run_cli("exporter", "--once")
    assert r.code == 1 and r.err.strip().count("\n") == 0
    assert "memtype[exporter]" in r.err and r.err.startswith("memtype: error: ")


@pytest.mark.parametrize(("args", "message"), [
    (["--listen", "nowhere"], "--listen: not ADDR:PORT"),
    (["--metrics", "bogus"], "--metrics: no metric 'bogus'"),
    (["--metrics", "program"], "not a metric"),
    (["--name", "("], "--name: not a regular expression"),
    (["--once", "--listen", "127.0.0.1:0"], "--once writes the metrics once"),
    (["--groups", "-1"], "not a number"),
    (["--budget", "nan"], "not a number of seconds"),
])
def test_issue10_usage_errors_are_one_line(run_cli, args: list[str], message: str) -> None:  # type: ignore[no-untyped-def]
    r = run_cli("exporter", "--root", str(GPU_ROOT), *args)
    assert r.code == 2, (r.code, r.err)
    assert message in r.err and r.err.strip().count("\n") == 0


def test_issue10_default_port_is_our_own() -> None:
    assert DEFAULT_PORT not in (9100, 9256, 8080, 9090, 9093)
    assert parse_listen(str(DEFAULT_PORT)) == ("127.0.0.1", DEFAULT_PORT)


def test_issue10_promtool_check_metrics_passes(model: Model) -> None:
    """promtool's linter (the Debian package ``prometheus``): no *_count gauge, _total on counters only,
    HELP on every metric, base units."""
    from prom import check_metrics

    for options in (Options(), Options(top=3, group="user"), Options(group="cgroup", groups=None)):
        checked = check_metrics(render(registry_over(model, options)).decode())
        assert checked.ok, checked.output


def test_issue10_readme_lists_every_metric() -> None:
    """The README's metric list is generated from the registry (UPDATE_GOLDEN=1 rewrites it)."""
    from memtype.exporter.docs import metric_list, replace_block

    readme = Path(__file__).resolve().parents[1] / "README.md"
    text = readme.read_text()
    want = replace_block(text, metric_list())
    if os.environ.get("UPDATE_GOLDEN") == "1":
        readme.write_text(want)
    assert text == want


def test_issue10_cgroups_by_kind_limit_and_oom_kills() -> None:
    """The cgroups of a stored Sample (v1-hybrid): charged memory by kind, limit, swap, OOM kills; an
    unknown figure (no limit) has no series; ``cgroups=1`` keeps the most charged one."""
    model = get_sample_model("v1-hybrid")
    assert model.cgroups is not None
    records = {cg.path: cg for cg in model.cgroups.cgroups}
    found = samples(render(registry_over(model, Options(cgroups=None))).decode())
    charged = series(found, "memtype_cgroup_charged_bytes")
    assert {dict(k)["path"] for k in charged} == {p for p, cg in records.items() if cg.charged is not None}
    for path, cg in records.items():
        for kind, value in cg.categories.items():
            got = series(found, "memtype_cgroup_kind_bytes", path=path, kind=kind)
            assert list(got.values()) == ([] if value is None else [value])
        limit = series(found, "memtype_cgroup_limit_bytes", path=path)
        assert list(limit.values()) == ([] if cg.limit is None else [cg.limit])
        kills = series(found, "memtype_cgroup_oom_kills_total", path=path)
        assert list(kills.values()) == ([] if cg.oom_kills is None else [cg.oom_kills])
    one = samples(render(registry_over(model, Options(cgroups=1))).decode())
    paths = {dict(k)["path"] for k in series(one, "memtype_cgroup_charged_bytes")}
    most = max((cg for cg in records.values() if cg.charged is not None), key=lambda cg: cg.charged or 0)
    assert paths == {most.path}


def test_issue10_sampler_reasons_are_the_sampler_s() -> None:
    """The sampler registry's read reasons and tick parts are the Sampler's own (a new reason must get
    a series, not be dropped)."""
    from memtype.collect.refresh import REASONS
    from memtype.model.sampling import READ_REASONS, TICK_PARTS, TickReport

    assert READ_REASONS == REASONS
    assert {f"{p}_cpu" for p in TICK_PARTS} <= set(TickReport.__slots__)
