"""Comments and docs point only at documents this repository has.

The wire facts the code relies on are written down in docs/wire.md; a comment that cites a
document kept elsewhere (a "wire-protocol §N") leaves the next reader with nothing to open.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCANNED = ("gateway/src", "gateway/tests", "sdk/src", "sdk/tests", "docs", "bench")
SUFFIXES = {".py", ".md", ".toml", ".txt"}
THIS_FILE = Path(__file__).resolve()

# Section citations of documents outside the repository; RFCs are public and fine.
FOREIGN_CITATION = re.compile(r"wire-protocol|design\.md|(?<!RFC \d{4} )§")
# "docs/wire.md, SSE framing": a pointer to one heading of a docs page.
SECTION_POINTER = re.compile(r"docs/wire\.md(?:, | \()([A-Z][A-Za-z ]+?)(?:[).;:]|$)", re.M)


def _sources() -> list[Path]:
    found = [ROOT / "README.md", ROOT / "dev.py"]
    for folder in SCANNED:
        found.extend(
            p
            for p in (ROOT / folder).rglob("*")
            if p.suffix in SUFFIXES
            and p.is_file()
            and ".results" not in p.parts
            and ".peers" not in p.parts
            and p.resolve() != THIS_FILE
        )
    return [p for p in found if p.exists()]


def _headings(page: Path) -> set[str]:
    return {line.lstrip("#").strip() for line in page.read_text().splitlines() if line.startswith("#")}


def test_no_file_cites_a_document_outside_the_repository() -> None:
    offenders = [
        f"{p.relative_to(ROOT)}:{n}"
        for p in _sources()
        for n, line in enumerate(p.read_text(errors="replace").splitlines(), 1)
        if FOREIGN_CITATION.search(line)
    ]
    assert offenders == []


def test_docs_pages_named_in_the_code_exist() -> None:
    missing = sorted(
        {
            f"{p.relative_to(ROOT)}: {name}"
            for p in _sources()
            for name in re.findall(r"\bdocs/([\w-]+\.md)", p.read_text(errors="replace"))
            if not (ROOT / "docs" / name).exists()
        }
    )
    assert missing == []


def _names_headings(pointer: str, headings: set[str]) -> bool:
    """``Compare and Compare stream events`` names two headings; ``Files and batches`` is one."""
    return pointer in headings or all(part in headings for part in pointer.split(" and "))


def test_pointers_into_the_wire_page_name_its_headings() -> None:
    headings = _headings(ROOT / "docs" / "wire.md")
    unknown = sorted(
        {
            f"{p.relative_to(ROOT)}: {m.group(1)}"
            for p in _sources()
            for m in SECTION_POINTER.finditer(p.read_text(errors="replace"))
            if not _names_headings(m.group(1).strip(), headings)
        }
    )
    assert unknown == []
