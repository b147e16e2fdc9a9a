"""Every message the code and templates show has an Arabic translation (Arabic first).

Messages are extracted the way `make extract-messages` does: babel.cfg's patterns are relative to
the folder extracted from (idp's start with `idp/`, so from the repository root; Masar's from its
own folder). The test also checks that the extraction found Python and template messages, so a
pattern that matches nothing fails here instead of passing with nothing to check."""
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent

CATALOGUES = {
    # name: (babel.cfg, folder to extract from, extra keywords, the Arabic catalogue)
    "idp": ("babel.cfg", ".", ["lazy_gettext"], "idp/translations/ar/LC_MESSAGES/messages.po"),
    "masar": ("relying_parties/masar/babel.cfg", "relying_parties/masar", [],
              "relying_parties/masar/translations/ar/LC_MESSAGES/messages.po"),
    # the SAML SP's catalogue has its own test: tests/relying_parties/test_saml_sp.py
}


def _msgid(message) -> str:
    return message.id if isinstance(message.id, str) else message.id[0]  # plural: (singular, plural)


def _extract(tmp_path, config: str, folder: str, keywords: list[str]):
    pot = tmp_path / "messages.pot"
    arguments = ["-k", "_l", "-k", "N_"] + [a for k in keywords for a in ("-k", k)]
    subprocess.run([sys.executable, "-m", "babel.messages.frontend", "-q", "extract", "-F", config,
                    *arguments, "-o", str(pot), folder], cwd=ROOT, check=True)
    with pot.open("rb") as f:
        return [m for m in read_po(f) if m.id]


@pytest.mark.parametrize("name", sorted(CATALOGUES))
def test_every_message_is_translated_into_arabic(tmp_path, name):
    config, folder, keywords, po = CATALOGUES[name]
    extracted = _extract(tmp_path, config, folder, keywords)
    sources = {Path(filename).suffix for m in extracted for filename, _ in m.locations}
    assert {".py", ".html"} <= sources, f"{name}: extraction found no messages in {({'.py', '.html'} - sources)}"
    with (ROOT / po).open("rb") as f:
        catalogue = read_po(f)
    translated = {_msgid(m) for m in catalogue
                  if m.id and not m.fuzzy and m.string and (isinstance(m.string, str) or all(m.string))}
    assert sorted({_msgid(m) for m in extracted} - translated) == []


def test_the_idp_extraction_sees_every_file_kind():
    """babel.cfg names every kind of file that carries messages in idp/ (a new kind needs a line)."""
    patterns = [line.strip("[]").split(":", 1)[1].strip() for line in (ROOT / "babel.cfg").read_text().splitlines()
                if line.startswith("[")]
    kinds = {Path(p).suffix for p in patterns}
    in_templates = {p.suffix for p in (ROOT / "idp/templates").rglob("*") if p.is_file()}
    assert in_templates <= kinds and ".py" in kinds
