"""`idp --help` starts in well under a second (issue 10): the command groups are imported only
when one runs, and `import idp` pulls in neither Flask nor SQLAlchemy, pysaml2 or pyop."""
from __future__ import annotations

import importlib
import subprocess
import sys

from click.testing import CliRunner

from idp.cli import COMMANDS, cli

HEAVY = ("flask", "sqlalchemy", "saml2", "pyop", "oic", "cryptography")


def test_help_imports_no_heavy_library():
    probe = ("import sys; from idp.cli import cli\n"
             "try:\n    cli(['--help'], prog_name='idp')\nexcept SystemExit:\n    pass\n"
             f"print('heavy:' + ','.join(m for m in {HEAVY!r} if m in sys.modules))")
    completed = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert "Commands:" in completed.stdout
    assert completed.stdout.splitlines()[-1] == "heavy:", completed.stdout


def test_help_lists_every_group_with_its_own_first_line():
    output = CliRunner().invoke(cli, ["--help"]).output
    for name, (module, attribute, summary) in COMMANDS.items():
        command = getattr(importlib.import_module(module), attribute)
        assert command.name == name
        assert command.get_short_help_str(limit=200) == summary, name  # the table says what the group says
        assert name in output


def test_a_group_loads_when_used():
    result = CliRunner().invoke(cli, ["registry", "--help"])
    assert result.exit_code == 0
    assert "seed" in result.output
