"""Every relative link in the README, docs/, results/ and tools/ names a file that exists and, with #anchor, a heading
in it; tools/README.md lists every tool."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINK = re.compile(r"\]\(([^)\s]+)\)")


def _pages() -> list[Path]:
    return sorted(
        [*ROOT.glob("*.md"), *ROOT.glob("docs/**/*.md"), *ROOT.glob("results/*.md"), ROOT / "tools" / "README.md"]
    )


def _anchors(page: Path) -> set[str]:
    """GitHub's heading slugs: lower case, punctuation but '-' dropped, spaces to '-'."""
    heads = (line.lstrip("#").strip().lower() for line in page.read_text().splitlines() if line.startswith("#"))
    return {re.sub(r"[^\w\- ]", "", h).replace(" ", "-") for h in heads}


def test_slug_rule():
    page = ROOT / "results" / "README.md"
    assert "the-low-far-end-of-issue-21-every-attempt-2026-12-04-to--07" in _anchors(page)


@pytest.mark.parametrize("page", _pages(), ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(page):
    broken = []
    for link in LINK.findall(page.read_text()):
        if link.startswith(("http://", "https://", "mailto:")):
            continue
        path, _, anchor = link.partition("#")
        target = (page.parent / path).resolve() if path else page
        if not target.exists():
            broken.append(f"{link}: no such file")
        elif anchor and target.suffix == ".md" and anchor not in _anchors(target):
            broken.append(f"{link}: no such heading")
    assert not broken, broken


def test_tools_index_lists_every_tool():
    index = (ROOT / "tools" / "README.md").read_text()
    tools = [p for p in (ROOT / "tools").iterdir() if p.suffix in (".py", ".sh") or (p / "__main__.py").exists()]
    missing = [p.name for p in tools if f"`{p.name}`" not in index and f"`{p.name}/`" not in index]
    assert len(tools) > 20 and not missing, missing
