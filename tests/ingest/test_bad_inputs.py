"""Bad files fail with a clear reason; the encrypted-with-password case ingests."""

from __future__ import annotations

from pathlib import Path

import pymupdf
import pytest

from ingest.config import IngestConfig
from ingest.errors import IngestError
from ingest.parse import parse_file, parse_many
from ingest.records import FileFailure, FileInfo, ParsedFile

from .builders import info_of, report_pdf, save


def _reason(path: Path, cfg: IngestConfig, media: Path) -> str:
    with pytest.raises(IngestError) as err:
        parse_file(info_of(path), cfg, media)
    assert err.value.path == str(path.resolve())
    return err.value.reason


def _encrypted(path: Path) -> Path:
    doc = pymupdf.open()
    page = doc.new_page()
    page.insert_text((72, 72), "Secret merger terms: the price is 42 dollars per share, payable in cash.")
    return save(doc, path, encryption=pymupdf.PDF_ENCRYPT_AES_256, user_pw="s3cret", owner_pw="owner")


def test_zero_byte(tmp_path: Path, cfg: IngestConfig, media: Path) -> None:
    (tmp_path / "empty.pdf").write_bytes(b"")
    assert _reason(tmp_path / "empty.pdf", cfg, media) == "empty file"


def test_corrupt(tmp_path: Path, cfg: IngestConfig, media: Path) -> None:
    (tmp_path / "junk.pdf").write_bytes(b"this is not a pdf at all\n" * 20)
    assert _reason(tmp_path / "junk.pdf", cfg, media) == "corrupt PDF"


def test_truncated(tmp_path: Path, cfg: IngestConfig, media: Path) -> None:
    data = report_pdf(tmp_path / "full.pdf", pages=3).read_bytes()
    (tmp_path / "cut.pdf").write_bytes(data[: len(data) // 3])
    # MuPDF repairs what it can: a truncated file either yields the pages it still has or
    # fails as corrupt; it never crashes and never passes silently as empty.
    try:
        parsed = parse_file(info_of(tmp_path / "cut.pdf"), cfg, media)
    except IngestError as exc:
        assert exc.reason in ("corrupt PDF", "0 pages")
    else:
        assert parsed.document.pages >= 1


def test_header_only_pdf_is_corrupt(tmp_path: Path, cfg: IngestConfig, media: Path) -> None:
    (tmp_path / "head.pdf").write_bytes(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    assert _reason(tmp_path / "head.pdf", cfg, media) in ("corrupt PDF", "0 pages")


def test_zero_pages(tmp_path: Path, cfg: IngestConfig, media: Path) -> None:
    body = (b"%PDF-1.4\n1 0 obj <</Type/Catalog/Pages 2 0 R>> endobj\n"
            b"2 0 obj <</Type/Pages/Kids[]/Count 0>> endobj\n")
    xref = len(body)
    obj2 = body.index(b"2 0 obj")
    pdf = body + (f"xref\n0 3\n0000000000 65535 f \n0000000009 00000 n \n{obj2:010d} 00000 n \n"
                  f"trailer <</Size 3/Root 1 0 R>>\nstartxref\n{xref}\n%%EOF\n").encode()
    (tmp_path / "zero.pdf").write_bytes(pdf)
    assert _reason(tmp_path / "zero.pdf", cfg, media) == "0 pages"


def test_encrypted_without_password(tmp_path: Path, cfg: IngestConfig, media: Path) -> None:
    assert _reason(_encrypted(tmp_path / "enc.pdf"), cfg, media) == "encrypted PDF (no password configured)"


def test_encrypted_wrong_password(tmp_path: Path, media: Path) -> None:
    cfg = IngestConfig(ocr="none", render_pages=False, password="nope")
    assert _reason(_encrypted(tmp_path / "enc.pdf"), cfg, media) == "encrypted PDF (wrong password)"


def test_encrypted_right_password_ingests(tmp_path: Path, media: Path) -> None:
    cfg = IngestConfig(ocr="none", render_pages=False, password="s3cret")
    parsed = parse_file(info_of(_encrypted(tmp_path / "enc.pdf")), cfg, media)
    assert "42 dollars" in " ".join(i.text for i in parsed.items)


def test_too_large(tmp_path: Path, media: Path) -> None:
    cfg = IngestConfig(ocr="none", render_pages=False, max_file_mb=0.001)
    assert _reason(report_pdf(tmp_path / "r.pdf", pages=3), cfg, media) == "too large"


def test_unsupported_type(tmp_path: Path, cfg: IngestConfig, media: Path) -> None:
    (tmp_path / "data.xyz").write_bytes(b"abc")
    assert _reason(tmp_path / "data.xyz", cfg, media) == "unsupported type .xyz"


def test_changed_after_discovery(tmp_path: Path, cfg: IngestConfig, media: Path) -> None:
    path = report_pdf(tmp_path / "r.pdf", pages=1)
    info = info_of(path)
    report_pdf(path, pages=2)
    with pytest.raises(IngestError, match="changed during ingestion"):
        parse_file(info, cfg, media)


def test_missing_file(tmp_path: Path, cfg: IngestConfig, media: Path) -> None:
    info = FileInfo(path=str(tmp_path / "gone.pdf"), size=10, mtime=0, sha256="0" * 64)
    with pytest.raises(IngestError, match="missing file"):
        parse_file(info, cfg, media)


def test_one_bad_file_does_not_stop_the_rest(tmp_path: Path, cfg: IngestConfig, media: Path) -> None:
    (tmp_path / "junk.pdf").write_bytes(b"garbage" * 10)
    good = report_pdf(tmp_path / "good.pdf", pages=1)
    results = list(parse_many([info_of(tmp_path / "junk.pdf"), info_of(good)], cfg, media))
    assert isinstance(results[0], FileFailure) and results[0].reason == "corrupt PDF"
    assert isinstance(results[1], ParsedFile)
