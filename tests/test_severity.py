"""Severity and family from a rule collection's own meta, the rule's attribution in every report, the
action threshold (act only on what you trust), and yara's warnings as the scanner's own."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from scanner.config import load_config
from scanner.engine.matches import MAX_META_TEXT, family_of, match_of, severity_of
from scanner.errors import ConfigError
from scanner.model import (
    Action,
    Detection,
    FamilySource,
    Policy,
    RuleHit,
    ScanCounts,
    ScanReport,
    ScanType,
    Severity,
    SignatureSetInfo,
    TargetKind,
)
from scanner.remediation import remediate, threshold
from scanner.remediation.packages import PackageIndex
from scanner.report import render_text
from tests.conftest import EICAR, run_module

L, M, H, C = Severity.LOW, Severity.MEDIUM, Severity.HIGH, Severity.CRITICAL


@pytest.mark.parametrize(
    ("meta", "want"),
    [
        ({}, M),
        ({"severity": "high"}, H),
        ({"severity": " CRITICAL "}, C),
        ({"severity": "informational"}, L),
        ({"severity": "bogus"}, M),
        ({"severity": 3}, M),  # a number in severity names no level: the default
        ({"severity": True}, M),
        # score: the LOKI/THOR bands (notice 40-59, warning 60-79, alert 80+; below 40 nothing is reported)
        ({"score": 0}, L),
        ({"score": 39}, L),
        ({"score": 40}, M),
        ({"score": 59}, M),
        ({"score": 60}, H),
        ({"score": 79}, H),
        ({"score": 80}, C),
        ({"score": 100}, C),
        ({"score": "75"}, H),
        ({"score": "lots"}, M),
        ({"score": True}, M),  # a boolean is not a number here
        ({"score": -5}, L),
        ({"score": 10**12}, C),
        # precedence: severity over score over threat_level
        ({"severity": "low", "score": 90}, L),
        ({"score": 45, "threat_level": 9}, M),
        ({"threat_level": 9}, C),
        ({"threat_level": 5}, H),
        ({"threat_level": 3}, M),
        ({"threat_level": 1}, L),
        ({"threat_level": "high"}, H),
        # low confidence caps at medium; it never raises a level
        ({"score": 90, "confidence": "low"}, M),
        ({"severity": "high", "confidence": 20}, M),
        ({"severity": "high", "confidence": "high"}, H),
        ({"severity": "low", "confidence": "high"}, L),
        ({"score": 50, "confidence": "low"}, M),
    ],
)
def test_severity_from_meta(meta: dict[str, object], want: Severity) -> None:
    assert severity_of(meta) is want


@pytest.mark.parametrize(
    ("meta", "want"),
    [
        ({"family": "Mirai"}, ("Mirai", FamilySource.META)),
        ({"malware_family": "Kinsing", "malware": "x"}, ("Kinsing", FamilySource.META)),
        ({"malware": "XorDDoS"}, ("XorDDoS", FamilySource.META)),
        ({"family": "  ", "malware": "Gafgyt"}, ("Gafgyt", FamilySource.META)),
        ({"family": True}, ("Rule_X", FamilySource.RULE_NAME)),  # a flag names no family
        ({"family": 7}, ("7", FamilySource.META)),
        ({}, ("Rule_X", FamilySource.RULE_NAME)),
    ],
)
def test_family_from_meta_then_the_rule_name(meta: dict[str, object], want: tuple[str, FamilySource]) -> None:
    assert family_of("Rule_X", meta) == want


def test_hostile_meta_is_bounded_and_of_any_type() -> None:
    meta = {"author": "A" * 100_000, "reference": 12, "license": False, "description": "d" * 10_000, "family": "F"}
    hit = match_of("r", "ns", (), meta, ()).hit
    assert len(hit.author) == MAX_META_TEXT and hit.author.endswith("…")
    assert hit.reference == "12" and hit.license == ""
    assert len(hit.description) <= 4 * MAX_META_TEXT


def _rules(tmp_path: Path, text: str, name: str = "community.yar") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


ATTRIBUTED = """
rule Sig_Attributed {
    meta:
        description = "test"
        author = "Jane \\x1b[31mDoe"
        reference = "https://example.org/r"
        license = "Detection Rule License 1.1 https://github.com/Neo23x0/signature-base/blob/master/LICENSE"
        score = 75
    strings: $a = "ATTRIBUTED-MARKER-1234"
    condition: $a
}
"""


def test_reports_carry_author_reference_and_license(tmp_path: Path, scanner_home: Path) -> None:
    rules = _rules(tmp_path, ATTRIBUTED)
    target = tmp_path / "t"
    target.mkdir()
    (target / "f.txt").write_text("xx ATTRIBUTED-MARKER-1234 xx")
    args = ("scan", target, "--rules", rules, "--no-default-rules")
    res = run_module(*args, "--format", "json", env={**os.environ, "SCANNER_HOME": str(scanner_home)})
    assert res.exit_code == 1, res.stderr
    (det,) = json.loads(res.stdout)["detections"]
    assert det["author"] == "Jane \x1b[31mDoe"  # JSON keeps the exact value
    assert det["reference"] == "https://example.org/r"
    assert det["license"].startswith("Detection Rule License 1.1")
    assert (det["severity"], det["family"], det["family_source"]) == ("high", "Sig_Attributed", "rule name")

    again = run_module(*args, env={**os.environ, "SCANNER_HOME": str(scanner_home)})  # from the file cache
    assert again.exit_code == 1, again.stderr
    assert "(Sig_Attributed, high; author Jane \\x1b[31mDoe; license Detection Rule License 1.1" in again.stdout
    assert "ref https://example.org/r)" in again.stdout
    assert "\x1b" not in again.stdout
    log = (scanner_home / "logs" / "scanner.log").read_text()
    assert "author Jane \\x1b[31mDoe" in log and "\x1b" not in log


COMMUNITY = """
rule Community_Weak { meta: score = 50 author = "someone"
    strings: $a = "WEAK-INDICATOR-5150" condition: $a }
rule Community_Strong { meta: score = 90 author = "someone"
    strings: $a = "STRONG-INDICATOR-9090" condition: $a }
"""


def _community_tree(tmp_path: Path) -> tuple[Path, Path]:
    target = tmp_path / "target"
    target.mkdir()
    (target / "weak.bin").write_text("WEAK-INDICATOR-5150")
    (target / "strong.bin").write_text("STRONG-INDICATOR-9090")
    (target / "eicar.com").write_bytes(EICAR)
    return target, _rules(tmp_path, COMMUNITY)


def _scan_json(cli: Any, *args: object) -> tuple[int, dict[str, Any]]:
    res = cli(*args, "--format", "json")
    return res.exit_code, json.loads(res.stdout)


def test_only_trusted_detections_are_acted_on(cli: Any, tmp_path: Path) -> None:
    target, rules = _community_tree(tmp_path)
    code, rep = _scan_json(cli, "scan", target, "--rules", rules, "--action", "quarantine")
    assert code == 1
    assert not (target / "strong.bin").exists()  # score 90: critical, acted on
    assert not (target / "eicar.com").exists()  # the project's own rule, severity low: acted on
    assert (target / "weak.bin").read_text() == "WEAK-INDICATOR-5150"  # score 50: medium, left alone
    by_rule = {d["rule"]: d for d in rep["detections"]}
    assert by_rule["Community_Weak"]["action"] == "not acted on: below the action threshold"
    assert by_rule["Community_Weak"]["severity"] == "medium"
    assert by_rule["Community_Strong"]["action"].startswith("quarantined as ")
    assert by_rule["EICAR_Test_File"]["action"].startswith("quarantined as ")
    (held,) = rep["remediation"]["not_acted_on"]
    assert (held["rule"], held["severity"], held["reason"]) == (
        "Community_Weak",
        "medium",
        "not acted on: below the action threshold",
    )
    assert held["target"] == str(target / "weak.bin")


def test_the_text_report_and_dry_run_list_what_is_not_acted_on(cli: Any, tmp_path: Path) -> None:
    target, rules = _community_tree(tmp_path)
    res = cli("scan", target, "--rules", rules, "--no-default-rules", "--action", "quarantine", "--dry-run")
    assert res.exit_code == 1
    assert "Not acted on (below the action threshold" in res.stdout
    assert f"{target / 'weak.bin'}: Community_Weak (medium)" in res.stdout
    assert f"quarantine {target / 'strong.bin'}" in res.stdout
    assert f"quarantine {target / 'weak.bin'}" not in res.stdout
    assert (target / "weak.bin").exists() and (target / "strong.bin").exists()


def test_a_given_threshold_applies_to_every_rule(cli: Any, tmp_path: Path) -> None:
    target, rules = _community_tree(tmp_path)
    code, rep = _scan_json(
        cli, "scan", target, "--rules", rules, "--action", "quarantine", "--action-min-severity", "critical"
    )
    assert code == 1
    assert not (target / "strong.bin").exists()
    assert (target / "weak.bin").exists() and (target / "eicar.com").exists()  # even the project's own low rule
    held = {h["rule"] for h in rep["remediation"]["not_acted_on"]}
    assert held == {"Community_Weak", "EICAR_Test_File"}


def test_everything_below_the_threshold_is_still_exit_1(cli: Any, tmp_path: Path) -> None:
    target, rules = _community_tree(tmp_path)
    (target / "strong.bin").unlink()
    code, rep = _scan_json(cli, "scan", target, "--rules", rules, "--no-default-rules", "--action", "quarantine")
    assert code == 1
    assert (target / "weak.bin").exists()
    assert rep["remediation"]["outcomes"] == []


def test_config_keys_set_the_threshold(cli: Any, tmp_path: Path) -> None:
    target, rules = _community_tree(tmp_path)
    config = tmp_path / "config.toml"
    config.write_text('[scan]\naction_min_severity = "Medium"\n[monthly]\naction_min_severity = "critical"\n')
    loaded = load_config(config, required=True)
    assert (loaded.action_min_severity, loaded.monthly_action_min_severity) == (Severity.MEDIUM, Severity.CRITICAL)
    code, _ = _scan_json(
        cli, "scan", "--config", config, target, "--rules", rules, "--no-default-rules", "--action", "quarantine"
    )
    assert code == 1
    assert not (target / "weak.bin").exists() and not (target / "strong.bin").exists()


def test_monthly_config_key_sets_the_monthly_threshold(cli: Any, tmp_path: Path) -> None:
    target, rules = _community_tree(tmp_path)
    root = tmp_path / "root"
    root.mkdir()
    config = tmp_path / "config.toml"
    config.write_text(f'[monthly]\naction_min_severity = "medium"\nrules = ["{rules}"]\n')
    res = cli("monthly", "--config", config, target, "--sysroot", root, "--no-processes", "--action", "quarantine")
    assert res.exit_code == 1, res.stderr
    assert not (target / "weak.bin").exists() and not (target / "strong.bin").exists()


@pytest.mark.parametrize("value", ['"severe"', "3", "true"])
def test_a_bad_threshold_in_the_config_is_an_error(tmp_path: Path, value: str) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f"[scan]\naction_min_severity = {value}\n")
    with pytest.raises(ConfigError, match="action_min_severity"):
        load_config(config, required=True)


def _detection(path: Path, namespace: str, severity: Severity) -> Detection:
    hit = RuleHit(f"R_{severity.value}", namespace, "F", severity)
    return Detection(TargetKind.FILE, str(path), hit, root=str(path.parent))


def test_the_plan_holds_back_what_the_policy_does_not_trust(tmp_path: Path) -> None:
    """The decision is the library's: ``remediate.plan`` with the policy's threshold, no CLI involved."""
    files = [tmp_path / n for n in ("a", "b", "c")]
    own = _detection(files[0], "bundled:x.yar", Severity.LOW)
    weak = _detection(files[1], "community.yar", Severity.MEDIUM)
    strong = _detection(files[2], "community.yar", Severity.HIGH)
    packages = PackageIndex(tmp_path)
    policy = Policy(Action.QUARANTINE, sysroot=tmp_path, own_namespaces=frozenset({"bundled:x.yar"}))
    plan = remediate.plan([own, weak, strong], policy, packages=packages, persistence_search=False)
    assert {a.path for a in plan.actions} == {str(files[0]), str(files[2])}
    assert plan.held == (weak,)
    strict = Policy(
        Action.QUARANTINE, sysroot=tmp_path, min_severity=Severity.HIGH, own_namespaces=policy.own_namespaces
    )
    plan = remediate.plan([own, weak, strong], strict, packages=packages, persistence_search=False)
    assert {a.path for a in plan.actions} == {str(files[2])} and plan.held == (own, weak)
    annotated = remediate.annotate([own, weak, strong], [], True, plan)
    assert [d.action for d in annotated[:2]] == [threshold.BELOW_THRESHOLD] * 2


def test_the_text_line_of_a_hit_without_attribution_is_unchanged() -> None:
    det = Detection(TargetKind.FILE, "/x", RuleHit("R", "ns", "Fam", Severity.HIGH))
    report = ScanReport(
        "id",
        ScanType.CUSTOM,
        ("/",),
        "t0",
        "t1",
        0.0,
        SignatureSetInfo("v", 1, "custom"),
        ScanCounts(detections=1),
        detections=(det,),
    )
    assert "/x: Fam (R, high)\n" in render_text(report)


TOO_MANY = """
rule Matches_Everything { strings: $a = "A" condition: $a }
rule Counts { strings: $b = "B" condition: #b > 2 }
"""


def test_yara_warnings_are_the_scanners_own_once_per_rule(tmp_path: Path, scanner_home: Path) -> None:
    rules = _rules(tmp_path, TOO_MANY)
    target = tmp_path / "t"
    target.mkdir()
    for name in ("one", "two"):
        (target / name).write_bytes(b"A" * 2_000_000)  # more matches than libyara records (a million)
    res = run_module(
        "scan",
        target,
        "--rules",
        rules,
        "--no-default-rules",
        "--format",
        "json",
        env={**os.environ, "SCANNER_HOME": str(scanner_home)},
    )
    assert res.exit_code == 1, res.stderr
    assert "RuntimeWarning" not in res.stderr and "Traceback" not in res.stderr
    lines = [line for line in res.stderr.splitlines() if "too many matches" in line]
    assert len(lines) == 1, res.stderr  # once per rule, not once per file
    assert "Matches_Everything" in lines[0] and "$a" in lines[0]
    rep = json.loads(res.stdout)
    (warning,) = [w for w in rep["warnings"] if "too many matches" in w]
    assert "Matches_Everything" in warning and "(2 targets)" in warning
    assert {d["rule"] for d in rep["detections"]} == {"Matches_Everything"}


def test_monthly_option_sets_the_threshold(cli: Any, tmp_path: Path) -> None:
    target, rules = _community_tree(tmp_path)
    root = tmp_path / "root"
    root.mkdir()
    res = cli(
        "monthly",
        target,
        "--rules",
        rules,
        "--sysroot",
        root,
        "--no-processes",
        "--action",
        "quarantine",
        "--action-min-severity",
        "critical",
    )
    assert res.exit_code == 1, res.stderr
    assert not (target / "strong.bin").exists()
    assert (target / "weak.bin").exists() and (target / "eicar.com").exists()
    default = cli("monthly", target, "--rules", rules, "--sysroot", root, "--no-processes", "--action", "quarantine")
    assert default.exit_code == 1, default.stderr
    assert not (target / "eicar.com").exists() and (target / "weak.bin").exists()
