"""Discovery: recursion, patterns, symlinks, odd names, sorting, hashing."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from ingest.config import IngestConfig
from ingest.discover import discover


def _tree(root: Path) -> None:
    (root / "a" / "b").mkdir(parents=True)
    (root / "a" / "b" / "deep.pdf").write_bytes(b"%PDF deep")
    (root / "top.md").write_text("# hi\n\ntext")
    (root / "Z.PDF").write_bytes(b"%PDF upper")
    (root / "notes.xyz").write_bytes(b"?")
    (root / ".hidden.pdf").write_bytes(b"%PDF hidden")
    (root / ".git").mkdir()
    (root / ".git" / "x.pdf").write_bytes(b"%PDF git")
    (root / "~$lock.docx").write_bytes(b"lock")


def test_walks_recursively_sorted_and_hashed(tmp_path: Path) -> None:
    _tree(tmp_path)
    d = discover([tmp_path], IngestConfig())
    assert [f.path for f in d.files] == sorted(f.path for f in d.files)
    names = {Path(f.path).name for f in d.files}
    assert names == {"deep.pdf", "top.md", "Z.PDF"}
    deep = next(f for f in d.files if f.path.endswith("deep.pdf"))
    assert deep.sha256 == hashlib.sha256(b"%PDF deep").hexdigest()
    assert deep.size == 9 and Path(deep.path).is_absolute()
    reasons = {Path(s.path).name: s.reason for s in d.skipped}
    assert reasons["notes.xyz"] == "unsupported type .xyz"
    assert reasons[".hidden.pdf"] == "excluded by pattern '.*'"
    assert reasons[".git"] == "excluded by pattern '.*'"  # the folder once, not its files
    assert reasons["~$lock.docx"].startswith("excluded by pattern")
    assert d.failed == []


def test_include_patterns_narrow(tmp_path: Path) -> None:
    _tree(tmp_path)
    d = discover([tmp_path], IngestConfig(include=["*.md"]))
    assert [Path(f.path).name for f in d.files] == ["top.md"]
    assert any(s.path.endswith("deep.pdf") and s.reason.startswith("not included") for s in d.skipped)


def test_single_file_and_missing_path(tmp_path: Path) -> None:
    (tmp_path / "one.pdf").write_bytes(b"%PDF one")
    d = discover([tmp_path / "one.pdf", tmp_path / "nope"], IngestConfig())
    assert [Path(f.path).name for f in d.files] == ["one.pdf"]
    assert [(Path(f.path).name, f.reason) for f in d.failed] == [("nope", "missing path")]


def test_symlink_loops_are_reported_not_followed(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "r.pdf").write_bytes(b"%PDF r")
    os.symlink(tmp_path / "docs", tmp_path / "docs" / "again")  # folder loop
    os.symlink(tmp_path / "self", tmp_path / "self")  # link to itself
    os.symlink(tmp_path / "absent.pdf", tmp_path / "dangling.pdf")
    d = discover([tmp_path], IngestConfig())
    assert [Path(f.path).name for f in d.files] == ["r.pdf"]
    failed = {Path(f.path).name: f.reason for f in d.failed}
    assert failed == {"again": "symlink loop", "self": "symlink loop", "dangling.pdf": "broken symlink"}


def test_symlinked_file_counted_once(tmp_path: Path) -> None:
    (tmp_path / "r.pdf").write_bytes(b"%PDF r")
    os.symlink(tmp_path / "r.pdf", tmp_path / "alias.pdf")
    d = discover([tmp_path, tmp_path / "r.pdf"], IngestConfig())
    assert [f.path for f in d.files] == [str((tmp_path / "r.pdf").resolve())]


def test_non_utf8_name_fails_clearly(tmp_path: Path) -> None:
    bad = os.path.join(os.fsencode(tmp_path), b"caf\xe9.pdf")
    with open(bad, "wb") as fh:
        fh.write(b"%PDF latin-1 name")
    d = discover([tmp_path], IngestConfig())
    assert d.files == []
    (fail,) = d.failed
    assert fail.reason == "non-UTF-8 file name"
    assert fail.path.endswith("caf\ufffd.pdf")
    fail.model_dump_json()  # storable as UTF-8


def test_too_large_is_skipped(tmp_path: Path) -> None:
    (tmp_path / "big.pdf").write_bytes(b"0" * 4096)
    d = discover([tmp_path], IngestConfig(max_file_mb=0.001))
    assert d.files == [] and d.skipped[0].reason.startswith("too large")


def test_unreadable_file(tmp_path: Path) -> None:
    p = tmp_path / "locked.pdf"
    p.write_bytes(b"%PDF")
    p.chmod(0)
    try:
        d = discover([tmp_path], IngestConfig())
    finally:
        p.chmod(0o644)
    if os.geteuid() == 0:  # root reads anything
        assert len(d.files) == 1
    else:
        assert [f.reason for f in d.failed] == ["unreadable"]


def test_a_link_chain_out_of_the_given_folder_is_skipped(tmp_path: Path) -> None:
    """sub/link -> ../other and other/evil -> a folder elsewhere: each hop resolves inside the
    parent folder or not at all, but following the chain from ``sub`` would leave it."""
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "secret.pdf").write_bytes(b"%PDF secret")
    (tmp_path / "root" / "sub").mkdir(parents=True)
    (tmp_path / "root" / "sub" / "mine.pdf").write_bytes(b"%PDF mine")
    (tmp_path / "root" / "other").mkdir()
    os.symlink("../other", tmp_path / "root" / "sub" / "link")
    os.symlink(tmp_path / "elsewhere", tmp_path / "root" / "other" / "evil")
    os.symlink(tmp_path / "elsewhere" / "secret.pdf", tmp_path / "root" / "sub" / "direct.pdf")
    d = discover([tmp_path / "root" / "sub"], IngestConfig())
    assert [Path(f.path).name for f in d.files] == ["mine.pdf"]
    skipped = {Path(s.path).name: s.reason for s in d.skipped}
    assert skipped["link"].startswith("symlink leads outside") and str(tmp_path / "root" / "sub") in skipped["link"]
    assert skipped["direct.pdf"].startswith("symlink leads outside")
    # from the parent folder, other/ is inside but other/evil still leads out
    d = discover([tmp_path / "root"], IngestConfig())
    assert sorted(Path(f.path).name for f in d.files) == ["mine.pdf"]
    assert {Path(s.path).name for s in d.skipped} == {"evil", "direct.pdf"}


def test_within_confines_the_given_paths_too(tmp_path: Path) -> None:
    (tmp_path / "mine").mkdir()
    (tmp_path / "theirs").mkdir()
    (tmp_path / "theirs" / "t.pdf").write_bytes(b"%PDF t")
    os.symlink(tmp_path / "theirs", tmp_path / "mine" / "alias")
    d = discover([tmp_path / "mine" / "alias", tmp_path / "theirs" / "t.pdf"], IngestConfig(),
                 within=[tmp_path / "mine"])
    assert d.files == []
    assert [f.reason for f in d.failed] == ["outside the allowed folders"] * 2
    inside = discover([tmp_path / "theirs"], IngestConfig(), within=[tmp_path / "theirs"])
    assert [Path(f.path).name for f in inside.files] == ["t.pdf"]
