"""The README stays honest: its first lines set things up, and every setting is documented."""

import re
from pathlib import Path

from web.config import DEFAULTS, ENV_PREFIX

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_readme_starts_with_the_two_commands():
    head = "\n".join(README.splitlines()[:6])
    assert "make run" in head and "make test" in head


def test_every_setting_is_documented():
    for key in DEFAULTS:
        assert f"`{ENV_PREFIX}_{key}`" in README, f"{ENV_PREFIX}_{key} is not in README.md"


def test_every_environment_variable_the_code_reads_is_documented():
    sources = [p for folder in ("lessons", "search", "web", "tests", "bench")
               for p in (ROOT / folder).rglob("*.py")] + [ROOT / "Makefile"]
    names = {name for path in sources
             for name in re.findall(r"\bLESSONS_[A-Z][A-Z_]+", path.read_text(encoding="utf-8"))}
    assert names, "the scan found nothing: it is broken"
    missing = sorted(name for name in names if f"`{name}`" not in README)
    assert missing == []
