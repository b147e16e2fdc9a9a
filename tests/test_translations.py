"""Every message the code and templates show has an Arabic translation (Arabic first)."""
import subprocess
import sys
from pathlib import Path

from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent


def test_every_message_is_translated_into_arabic(tmp_path):
    pot = tmp_path / "messages.pot"
    subprocess.run([sys.executable, "-m", "babel.messages.frontend", "-q", "extract", "-F", "babel.cfg",
                    "-k", "_l", "-k", "lazy_gettext", "-k", "N_", "-o", str(pot), "idp"],
                   cwd=ROOT, check=True)
    with pot.open("rb") as f:
        wanted = {m.id if isinstance(m.id, str) else m.id[0] for m in read_po(f) if m.id}
    with (ROOT / "idp/translations/ar/LC_MESSAGES/messages.po").open("rb") as f:
        catalogue = read_po(f)
    translated = {(m.id if isinstance(m.id, str) else m.id[0]) for m in catalogue
                  if m.id and not m.fuzzy and m.string and (isinstance(m.string, str) or all(m.string))}
    assert sorted(wanted - translated) == []
