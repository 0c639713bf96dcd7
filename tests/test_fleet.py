"""Fleet reporting through the real components: a real rsyslogd (its own configuration in tmp_path: UDP and
TCP on 127.0.0.1, a unix socket in tmp_path, omfile into tmp_path) receives the events of real scans run as
child processes, and Debian's ``promtool`` checks the metrics files. Both skip with a reason when the
program is absent (``.ci/run`` installs the ``rsyslog`` and ``prometheus`` packages)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import EICAR, Result, run_module
from test_cli_admin import planted_root, served_feed  # noqa: F401 - served_feed is a fixture

from scanner.errors import UsageError
from scanner.fleet import ecs, sinks
from scanner.fleet.reporter import FleetSettings, Reporter
from scanner.model import Action, decode_path
from scanner.state import StateDir
from scanner.watch.config import WatchConfig
from scanner.watch.events import WatchEvent
from scanner.watch.service import run_watch

RSYSLOGD = shutil.which("rsyslogd") or next((p for p in ("/usr/sbin/rsyslogd",) if os.path.exists(p)), None)
PROMTOOL = shutil.which("promtool")
needs_rsyslog = pytest.mark.skipif(RSYSLOGD is None, reason="rsyslogd not installed (Debian package rsyslog)")
needs_promtool = pytest.mark.skipif(PROMTOOL is None, reason="promtool not installed (Debian package prometheus)")

ECS_FIELDS = ("@timestamp", "ecs.version", "event.kind", "event.category", "event.type", "event.action")
ECS_FIELDS += ("event.module", "host.hostname", "agent.version", "message")


def field(ev: dict[str, Any], dotted: str) -> Any:
    """The value at ``a.b.c`` (KeyError when missing)."""
    if dotted in ev:
        return ev[dotted]
    head, _, rest = dotted.partition(".")
    return field(ev[head], rest) if rest else ev[head]


def free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Rsyslog:
    """A real rsyslogd of the test's own: UDP, TCP and a unix socket in, one file out."""

    udp: int
    tcp: int
    sock: Path
    out: Path
    proc: subprocess.Popen[bytes]

    def urls(self) -> list[str]:
        return [f"syslog:{self.sock}", f"udp://127.0.0.1:{self.udp}", f"tcp://127.0.0.1:{self.tcp}"]

    def messages(self) -> list[tuple[str, str, str, str, str]]:
        """(input, protocol version, app name, msgid, message) of every message from the scanner."""
        if not self.out.exists():
            return []
        rows = [tuple(line.split(" ", 4)) for line in self.out.read_text().splitlines() if line.count(" ") >= 4]
        return [(a, b, c, d, e.strip()) for a, b, c, d, e in rows if c == "scanner"]  # type: ignore[misc]

    def wait_for(self, count: int, timeout: float = 20.0) -> list[tuple[str, str, str, str, str]]:
        deadline = time.monotonic() + timeout
        while len(got := self.messages()) < count and time.monotonic() < deadline:
            time.sleep(0.1)
        return got

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(20)


@pytest.fixture
def rsyslog(tmp_path: Path) -> Iterator[Rsyslog]:
    if RSYSLOGD is None:
        pytest.skip("rsyslogd not installed (Debian package rsyslog)")
    d = tmp_path / "rsyslog"
    d.mkdir()
    udp, tcp = free_port(socket.SOCK_DGRAM), free_port(socket.SOCK_STREAM)
    conf = d / "rsyslog.conf"
    # Default parsers everywhere, as a stock Debian rsyslog has them (imuxsock's special parser included).
    conf.write_text(
        f"""
global(workDirectory="{d}")
module(load="imuxsock" SysSock.Use="off")
module(load="imudp")
module(load="imtcp")
input(type="imuxsock" Socket="{d}/log.sock")
input(type="imudp" address="127.0.0.1" port="{udp}")
input(type="imtcp" address="127.0.0.1" port="{tcp}")
template(name="events" type="string" string="%inputname% %protocol-version% %app-name% %msgid% %msg%\\n")
*.* action(type="omfile" file="{d}/out.log" template="events")
"""
    )
    proc = subprocess.Popen(
        [RSYSLOGD, "-n", "-f", str(conf), "-i", str(d / "rsyslogd.pid")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    server = Rsyslog(udp, tcp, d / "log.sock", d / "out.log", proc)
    deadline = time.monotonic() + 20
    while True:
        try:
            socket.create_connection(("127.0.0.1", tcp), timeout=1).close()
            if server.sock.exists():
                break
        except OSError:
            pass
        assert proc.poll() is None, "rsyslogd exited at start"
        assert time.monotonic() < deadline, "rsyslogd did not start listening"
        time.sleep(0.1)
    yield server
    server.stop()


def eicar_scan(tmp_path: Path, eicar_rule: Path, *extra: str) -> tuple[Result, Path, dict[str, Any]]:
    """A scan (child process) of a folder holding the EICAR file, quarantining it; the report as JSON."""
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    (data / "eicar.com").write_bytes(EICAR)
    report = tmp_path / "report.json"
    res = run_module(
        "scan", data, "--no-default-rules", "--rules", eicar_rule, "--action", "quarantine",
        "--action-min-severity", "low", "--format", "json", "-o", report, *extra,
    )  # fmt: skip
    return res, data / "eicar.com", json.loads(report.read_text()) if report.exists() else {}


def check_ecs(ev: dict[str, Any]) -> None:
    for name in ECS_FIELDS:
        field(ev, name)
    assert field(ev, "ecs.version") == ecs.ECS_VERSION
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", ev["@timestamp"])


# -- the real rsyslog --------------------------------------------------------------------------------------


@needs_rsyslog
def test_every_event_reaches_rsyslog_on_every_transport(tmp_path: Path, eicar_rule: Path, rsyslog: Rsyslog) -> None:
    jsonl = tmp_path / "events.jsonl"
    args = [a for url in rsyslog.urls() for a in ("--events", url)]
    res, sample, report = eicar_scan(tmp_path, eicar_rule, *args, "--events", f"file://{jsonl}")
    assert res.exit_code == 1, res.stderr
    assert not sample.exists(), "the sample was not quarantined"
    assert "dropped" not in res.stderr
    got = rsyslog.wait_for(12)
    assert len(got) == 12, got
    by_input: dict[str, list[dict[str, Any]]] = {}
    for inputname, version, _app, msgid, message in got:
        ev = json.loads(message)
        check_ecs(ev)
        by_input.setdefault(inputname, []).append(ev)
        if inputname in ("imudp", "imtcp"):  # RFC 5424: version 1, MSGID the event's action
            assert (version, msgid) == ("1", ev["event"]["action"])
    file_events = [json.loads(line) for line in jsonl.read_text().splitlines()]
    actions = ["scan-started", "malware-detected", "file-quarantined", "scan-ended"]
    for events in (*by_input.values(), file_events):
        assert [e["event"]["action"] for e in events] == actions
        assert events == file_events  # the same records over every transport
    assert sorted(by_input) == ["imtcp", "imudp", "imuxsock"]

    start, detection, action, end = file_events
    assert {e["scanner"]["scan_id"] for e in file_events} == {report["scan_id"]}
    assert detection["event"]["kind"] == "alert"
    assert detection["file"]["path"] == str(sample)
    assert detection["file"]["hash"]["sha256"] == hashlib.sha256(EICAR).hexdigest()
    assert detection["threat"]["software"]["name"] == "EICAR-Test-File"
    assert detection["rule"]["name"] == "Test_EICAR"
    assert detection["scanner"]["severity"] == "low"
    assert action["event"]["outcome"] == "success"
    assert action["file"]["path"] == str(sample)
    assert action["scanner"]["vault_id"] == report["remediation"]["outcomes"][0]["vault_id"]
    assert end["scanner"]["exit_code"] == 1 == report["exit_code"]
    assert end["scanner"]["counts"]["files_scanned"] == report["counts"]["files_scanned"]
    assert end["scanner"]["signatures"]["version"] == report["signatures"]["version"]
    assert start["event"]["type"] == ["start"] and end["event"]["type"] == ["end"]


@needs_rsyslog
def test_with_rsyslog_stopped_the_scan_completes_and_counts_what_it_dropped(
    tmp_path: Path, eicar_rule: Path, rsyslog: Rsyslog
) -> None:
    rsyslog.stop()
    tcp, unix = f"tcp://127.0.0.1:{rsyslog.tcp}", f"syslog:{rsyslog.sock}"
    res, sample, report = eicar_scan(tmp_path, eicar_rule, "--events", tcp, "--events", unix)
    assert res.exit_code == 1, res.stderr
    assert report["exit_code"] == 1 and not sample.exists()
    for url in (tcp, unix):
        assert f"scanner: warning: event sink {url}: 4 event(s) dropped (" in res.stderr
    assert "Traceback" not in res.stderr


# -- sinks that are not there, or are hostile ----------------------------------------------------------------


def test_a_fifo_as_the_event_file_never_blocks_the_scan(tmp_path: Path, eicar_rule: Path) -> None:
    fifo = tmp_path / "events.fifo"
    os.mkfifo(fifo)
    res, sample, _ = eicar_scan(tmp_path, eicar_rule, "--events", f"file://{fifo}")
    assert res.exit_code == 1, res.stderr
    assert not sample.exists()
    assert f"event sink file://{fifo}: 4 event(s) dropped (not a regular file" in res.stderr


def test_a_tcp_collector_that_never_answers_costs_one_timeout(tmp_path: Path) -> None:
    """A listener whose queue is full: connecting times out; the sink is left alone afterwards."""
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen(0)
        port = srv.getsockname()[1]
        fillers = []
        for _ in range(8):  # fill the accept queue, so the next connect hangs in SYN_SENT
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", port))
            fillers.append(s)
        reporter = Reporter(FleetSettings(sinks=(f"tcp://127.0.0.1:{port}",), timeout=0.5))
        for i in range(20):
            reporter.emit(ecs.base(ecs.Host("h"), dt.datetime.now(dt.UTC), f"test-{i}"))
        for s in fillers:
            s.close()
    assert reporter.stats()[f"tcp://127.0.0.1:{port}"] == {"sent": 0, "dropped": 20}
    (line,) = reporter.take_warnings()
    assert "20 event(s) dropped (no answer within 0.5 s)" in line
    assert reporter.take_warnings() == []  # counted once


def test_control_characters_in_a_sink_url_are_refused_and_escaped(cli: Callable[..., Result], tmp_path: Path) -> None:
    res = cli("scan", tmp_path, "--events", "udp://evil\x1b[31m:514")
    assert res.exit_code == 2
    assert "\x1b" not in res.stderr and "\\x1b[31m" in res.stderr
    assert res.stderr.count("\n") == 1


@pytest.mark.parametrize(
    "url",
    [
        "udp://host",
        "tcp://:514",
        "tcp://h:0",
        "tcp://h:70000",
        "file://relative.jsonl",
        "file:///x?y",
        "http://x:1",
        "x",
    ],
)
def test_bad_sink_urls_are_usage_errors(url: str) -> None:
    with pytest.raises(UsageError, match="give syslog:"):
        sinks.parse_sink(url)


def test_sink_urls() -> None:
    assert sinks.parse_sink("syslog:").path == "/dev/log"
    assert sinks.parse_sink("syslog:/run/x.sock").path == "/run/x.sock"
    assert (sinks.parse_sink("udp://[::1]:514").host, sinks.parse_sink("udp://[::1]:514").port) == ("::1", 514)
    assert sinks.parse_sink("tcp://logs.example:6514").kind is sinks.SinkKind.TCP
    assert sinks.parse_sink("file:///var/log/x%20y.jsonl").path == "/var/log/x y.jsonl"
    assert sinks.parse_sink("-").kind is sinks.SinkKind.STDOUT


def test_rfc5424_header() -> None:
    at = dt.datetime(2026, 12, 8, 20, 0, 0, 5, tzinfo=dt.UTC)
    msg = sinks.rfc5424(b"{}", at=at, severity=4, facility=3, hostname="web 01\n", msgid="malware-detected", pid=7)
    assert msg == b"<28>1 2026-12-08T20:00:00.000005Z web_01_ scanner 7 malware-detected - {}"


# -- events: bounded, exact ------------------------------------------------------------------------------


def test_an_event_is_bounded_and_stays_valid_json() -> None:
    ev = ecs.base(ecs.Host("h"), dt.datetime.now(dt.UTC), "x", message="m" * 100_000)
    ev["file"] = {"path": "/" + "a" * 50_000, "list": ["x" * 300] * 1_000}
    data = ecs.encode(ev)
    assert len(data) <= ecs.MAX_EVENT_BYTES
    back = json.loads(data)
    assert back["event"]["action"] == "x" and back["message"].endswith(ecs.TRUNCATED)


def test_json_keeps_control_characters_and_undecodable_names_exact(tmp_path: Path) -> None:
    """Inside JSON nothing is escaped beyond JSON's own escapes; a name that is not UTF-8 keeps its bytes."""
    name = os.fsdecode(b"evil\x1b[2J\n\xff.com")
    fields = ecs.path_fields(str(tmp_path / name))
    back = json.loads(ecs.encode({"file": fields}))
    assert back["file"]["name"] == "evil\x1b[2J\n\\xff.com"
    assert decode_path(back["file"]["path_b64"]) == str(tmp_path / name)
    assert b"\x1b" not in ecs.encode({"file": fields})


# -- metrics ---------------------------------------------------------------------------------------------------


def promtool_check(path: Path) -> None:
    assert PROMTOOL is not None
    res = subprocess.run([PROMTOOL, "check", "metrics"], input=path.read_bytes(), capture_output=True, timeout=60)
    assert res.returncode == 0, (res.stdout + res.stderr).decode()


def samples(path: Path) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of a metrics file: (name, labels) -> value."""
    out = {}
    for line in path.read_text().splitlines():
        if line.startswith("#"):
            continue
        m = re.fullmatch(r"(\w+)(?:\{(.*)\})? (\S+)", line)
        assert m, line
        labels = frozenset(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
        out[(m.group(1), labels)] = float(m.group(3))
    return out


@needs_promtool
def test_scan_metrics_pass_promtool_and_match_the_report(tmp_path: Path, eicar_rule: Path) -> None:
    prom = tmp_path / "textfile"
    prom.mkdir()
    res, _, report = eicar_scan(tmp_path, eicar_rule, "--metrics-dir", prom)
    assert res.exit_code == 1, res.stderr
    path = prom / "scanner_scan.prom"
    assert path.stat().st_mode & 0o777 == 0o644  # node_exporter's own user reads it
    promtool_check(path)
    got = samples(path)
    cmd = frozenset({("command", "scan")})
    assert got[("scanner_last_scan_exit_code", cmd)] == report["exit_code"] == 1
    assert got[("scanner_last_scan_files_scanned", cmd)] == report["counts"]["files_scanned"]
    assert got[("scanner_last_scan_scanned_bytes", cmd)] == report["counts"]["bytes_scanned"]
    assert got[("scanner_last_scan_duration_seconds", cmd)] == report["duration_s"]
    finished = dt.datetime.fromisoformat(report["finished_at"]).timestamp()
    assert got[("scanner_last_scan_timestamp_seconds", cmd)] == finished
    assert got[("scanner_last_scan_result", cmd | {("result", "found")})] == 1
    assert got[("scanner_last_scan_result", cmd | {("result", "clean")})] == 0
    detections = {k: v for k, v in got.items() if k[0] == "scanner_last_scan_detections"}
    assert detections == {
        ("scanner_last_scan_detections", cmd | {("family", "EICAR-Test-File"), ("action", "quarantined")}): 1
    }
    sig = report["signatures"]
    assert got[("scanner_last_scan_signatures_info", cmd | {("version", sig["version"]), ("source", sig["source"])})]


@needs_promtool
def test_hostile_family_names_are_escaped_in_labels(tmp_path: Path, cli: Callable[..., Result]) -> None:
    rule = tmp_path / "r.yar"
    rule.write_text(
        'rule Evil { meta: family = "Fam\\"ily\\\\x\\n\\x1b[31m" severity = "high" '
        'strings: $a = "EICAR-STANDARD" condition: $a }'
    )
    data = tmp_path / "d"
    data.mkdir()
    (data / "x").write_bytes(EICAR)
    prom, jsonl = tmp_path / "p", tmp_path / "e.jsonl"
    prom.mkdir()
    res = cli("scan", data, "--no-default-rules", "--rules", rule, "--metrics-dir", prom, "--events", f"file://{jsonl}")
    assert res.exit_code == 1, res.stderr
    promtool_check(prom / "scanner_scan.prom")
    text = (prom / "scanner_scan.prom").read_text()
    assert "\x1b" not in text
    raw = jsonl.read_bytes()
    assert b"\x1b" not in raw and raw.count(b"\n") == 3  # JSON's own escapes: one event per line
    family = json.loads(raw.splitlines()[1])["threat"]["software"]["name"]
    assert family == 'Fam"ily\\x\n\x1b[31m'  # exact in JSON
    assert r'family="Fam\"ily\\x\\x0a\\x1b[31m"' in text  # printable, then the format's escapes


@needs_promtool
def test_a_refused_update_is_an_event_and_a_metric(tmp_path: Path, cli: Callable[..., Result]) -> None:
    prom, jsonl = tmp_path / "p", tmp_path / "e.jsonl"
    prom.mkdir()
    res = cli("update", "--feed", f"file://{tmp_path}/no-feed", "--events", f"file://{jsonl}", "--metrics-dir", prom)
    assert res.exit_code == 2
    (ev,) = [json.loads(line) for line in jsonl.read_text().splitlines()]
    check_ecs(ev)
    assert ev["event"]["action"] == "signatures-update-refused" and ev["event"]["outcome"] == "failure"
    assert ev["event"]["reason"]
    promtool_check(prom / "scanner_update.prom")
    got = samples(prom / "scanner_update.prom")
    assert got[("scanner_last_update_success", frozenset())] == 0
    assert got[("scanner_last_update_status_info", frozenset({("status", "refused")}))] == 1


def test_a_missing_metrics_directory_is_a_warning_not_a_failure(tmp_path: Path, eicar_rule: Path) -> None:
    res, sample, _ = eicar_scan(tmp_path, eicar_rule, "--metrics-dir", tmp_path / "absent")
    assert res.exit_code == 1
    assert not sample.exists()
    assert "metrics not written to" in res.stderr and "scanner_scan.prom" in res.stderr


# -- configuration and the scheduled units --------------------------------------------------------------------


def test_config_sections(tmp_path: Path, eicar_rule: Path, scanner_home: Path) -> None:
    jsonl, prom = tmp_path / "c.jsonl", tmp_path / "p"
    prom.mkdir()
    (scanner_home / "config.toml").write_text(
        f'[events]\nsinks = ["file://{jsonl}"]\ntimeout = 0.5\nfacility = "local3"\n[metrics]\ndir = "{prom}"\n'
    )
    res, _, _ = eicar_scan(tmp_path, eicar_rule)
    assert res.exit_code == 1, res.stderr
    assert len(jsonl.read_text().splitlines()) == 4
    assert (prom / "scanner_scan.prom").exists()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[events]\nsinks = "gopher://x"', "unknown event sink"),
        ("[events]\ntimeout = 0", "must be from 0.1 to 60"),
        ('[events]\nfacility = "kern"', "unknown syslog facility"),
        ('[metrics]\ndir = "relative"', "must be an absolute path"),
        ('[events]\nsink = "-"', "unknown key 'sink'"),
    ],
)
def test_bad_config_values_are_one_line_errors(
    text: str, message: str, tmp_path: Path, scanner_home: Path, cli: Callable[..., Result]
) -> None:
    (scanner_home / "config.toml").write_text(text + "\n")
    res = cli("scan", tmp_path)
    assert res.exit_code == 2
    assert message in res.stderr and res.stderr.count("\n") == 1


def test_schedule_install_passes_events_and_metrics_to_both_units(tmp_path: Path, cli: Callable[..., Result]) -> None:
    units = tmp_path / "units"
    watched = tmp_path / "w"
    watched.mkdir()
    res = cli(
        "schedule", "install", "--scheduler", "systemd", "--unit-dir", units, "--watch", watched,
        "--events", "syslog:", "--events", "tcp://10.0.0.5:514", "--metrics-dir", tmp_path / "prom",
    )  # fmt: skip
    assert res.exit_code == 0, res.stderr
    for unit in ("scanner-monthly.service", "scanner-watch.service"):
        exec_line = next(ln for ln in (units / unit).read_text().splitlines() if ln.startswith("ExecStart="))
        assert "--events=syslog: --events=tcp://10.0.0.5:514" in exec_line
        assert f"--metrics-dir={tmp_path / 'prom'}" in exec_line
    bad = cli("schedule", "install", "--scheduler", "systemd", "--unit-dir", units, "--events", "nope")
    assert bad.exit_code == 2


# -- the watch ---------------------------------------------------------------------------------------------------


@needs_promtool
def test_watch_sends_start_detection_stop_and_writes_heartbeat_metrics(
    tmp_path: Path, eicar_rule: Path, scanner_home: Path
) -> None:
    watched, prom, jsonl = tmp_path / "watched", tmp_path / "prom", tmp_path / "w.jsonl"
    watched.mkdir()
    prom.mkdir()
    sysroot = tmp_path / "sysroot"
    sysroot.mkdir()
    config = WatchConfig(
        paths=(str(watched),),
        state=StateDir(scanner_home),
        action=Action.QUARANTINE,
        rules=(eicar_rule,),
        use_default_rules=False,
        jobs=1,
        sysroot=sysroot,
        heartbeat_interval=0.2,
        action_min_severity=None,
    )
    fleet = Reporter(FleetSettings(sinks=(f"file://{jsonl}",), metrics_dir=prom))
    stop, seen = threading.Event(), threading.Event()

    def emit(ev: WatchEvent) -> None:
        if ev.kind.value == "detection":
            seen.set()

    worker = threading.Thread(target=lambda: run_watch(config, emit=emit, stop=stop, fleet=fleet), daemon=True)
    worker.start()
    deadline = time.monotonic() + 20
    while not (prom / "scanner_watch.prom").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    promtool_check(prom / "scanner_watch.prom")
    assert samples(prom / "scanner_watch.prom")[("scanner_watch_up", frozenset())] == 1
    (watched / "eicar.com").write_bytes(EICAR)
    assert seen.wait(20)
    stop.set()
    worker.join(30)
    actions = [json.loads(line)["event"]["action"] for line in jsonl.read_text().splitlines()]
    assert actions[0] == "watch-started" and actions[-1] == "watch-stopped" and "malware-detected" in actions
    got = samples(prom / "scanner_watch.prom")
    promtool_check(prom / "scanner_watch.prom")
    assert got[("scanner_watch_up", frozenset())] == 0
    assert got[("scanner_watch_detections_total", frozenset())] == 1
    assert ("scanner_watch_queue_length", frozenset()) in got
    assert got[("scanner_watch_overflows_total", frozenset())] == 0


# -- the monthly run, updates and rollbacks ---------------------------------------------------------------------


@needs_promtool
def test_monthly_update_scan_and_rollback_are_events_and_metrics(
    tmp_path: Path,
    cli: Callable[..., Result],
    served_feed: tuple[str, Path],  # noqa: F811 - the fixture imported from test_cli_admin
) -> None:
    url, root_json = served_feed
    root = planted_root(tmp_path)
    jsonl, prom, report = tmp_path / "m.jsonl", tmp_path / "prom", tmp_path / "monthly.json"
    prom.mkdir()
    res = cli(
        "monthly", "--feed", url, "--trusted-root", root_json, "--sysroot", root, "--no-processes",
        "--report", report, "--events", f"file://{jsonl}", "--metrics-dir", prom,
    )  # fmt: skip
    assert res.exit_code == 1, res.stdout + res.stderr
    rep = json.loads(report.read_text())
    events = [json.loads(line) for line in jsonl.read_text().splitlines()]
    for ev in events:
        check_ecs(ev)
    assert [e["event"]["action"] for e in events] == [
        "signatures-updated", "scan-started", "malware-detected", "file-quarantined", "scan-ended",
    ]  # fmt: skip
    update = events[0]["scanner"]["update"]
    assert update["to"] == "2990.01.1" == rep["signatures"]["version"] and update["from"] != update["to"]
    assert {e["scanner"]["command"] for e in events[1:]} == {"monthly"}
    assert events[-1]["scanner"]["scan_id"] == rep["scan_id"]
    for name in ("scanner_monthly.prom", "scanner_update.prom"):
        promtool_check(prom / name)
    got = samples(prom / "scanner_update.prom")
    assert got[("scanner_signatures_info", frozenset({("version", "2990.01.1")}))] == 1
    assert got[("scanner_last_update_status_info", frozenset({("status", "updated")}))] == 1
    monthly = samples(prom / "scanner_monthly.prom")
    assert monthly[("scanner_last_scan_exit_code", frozenset({("command", "monthly")}))] == 1

    res = cli("signatures", "rollback", "--events", f"file://{jsonl}", "--metrics-dir", prom)
    assert res.exit_code == 0, res.stderr
    last = json.loads(jsonl.read_text().splitlines()[-1])
    assert last["event"]["action"] == "signatures-rolled-back"
    assert last["scanner"]["update"]["from"] == "2990.01.1"
    got = samples(prom / "scanner_update.prom")
    assert got[("scanner_last_update_status_info", frozenset({("status", "rolled-back")}))] == 1
    assert ("scanner_signatures_info", frozenset({("version", "2990.01.1")})) not in got


def test_a_scan_that_cannot_run_sends_a_failed_end(tmp_path: Path, cli: Callable[..., Result]) -> None:
    bad = tmp_path / "bad.yar"
    bad.write_text("rule broken { condition: }")
    root, jsonl, prom = planted_root(tmp_path), tmp_path / "f.jsonl", tmp_path / "prom"
    prom.mkdir()
    # --strict: a rule file that does not compile stops the run (without it, the file is skipped)
    res = cli(
        "monthly", "--rules", bad, "--strict", "--sysroot", root, "--no-processes",
        "--events", f"file://{jsonl}", "--metrics-dir", prom,
    )  # fmt: skip
    assert res.exit_code == 2
    (ev,) = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert ev["event"]["action"] == "scan-ended" and ev["event"]["outcome"] == "failure"
    assert ev["scanner"]["exit_code"] == 2 and ev["event"]["reason"]
    got = samples(prom / "scanner_monthly.prom")
    assert got[("scanner_last_scan_result", frozenset({("command", "monthly"), ("result", "error")}))] == 1


def test_events_to_standard_output_are_json_lines(tmp_path: Path, eicar_rule: Path) -> None:
    """``--events -`` (for systemd's journal): one JSON event per line on standard output."""
    res, _, report = eicar_scan(tmp_path, eicar_rule, "--events", "-")
    assert res.exit_code == 1, res.stderr
    events = [json.loads(line) for line in res.stdout.splitlines()]
    assert [e["event"]["action"] for e in events] == [
        "scan-started",
        "malware-detected",
        "file-quarantined",
        "scan-ended",
    ]
    assert events[-1]["scanner"]["scan_id"] == report["scan_id"]
