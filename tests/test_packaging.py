"""The built wheel runs outside a checkout: defaults, migrations and Arabic catalogues travel inside it.

The wheel is installed (without dependencies) into a folder of its own and run by an interpreter
started with -S, so neither the checkout nor the editable install of the test venv is importable;
the dependencies come from the test venv's site-packages on PYTHONPATH (no .pth files run there).
"""
from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

CHECKOUT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    root = tmp_path_factory.mktemp("wheel")
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(root / "dist"),
                            str(CHECKOUT)], capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr
    wheel = next((root / "dist").glob("national_idp-*.whl"))
    site = root / "site"
    installed = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site),
                                str(wheel)], capture_output=True, text=True, timeout=300)
    assert installed.returncode == 0, installed.stderr
    return site


def run_outside(site: Path, cwd: Path, code: str) -> subprocess.CompletedProcess:
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(cwd),
           "PYTHONPATH": os.pathsep.join([str(site), sysconfig.get_paths()["purelib"]])}
    return subprocess.run([sys.executable, "-S", "-c", code], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120)


def test_the_wheel_migrates_serves_and_speaks_arabic_outside_the_checkout(installed, tmp_path):
    migrate = run_outside(installed, tmp_path, (
        "import sys, idp\n"
        f"assert idp.__file__.startswith({str(installed)!r}), idp.__file__\n"
        "from idp.cli import main\n"
        "sys.argv = ['idp', 'db', 'upgrade']\n"
        "main()\n"))
    assert migrate.returncode == 0, migrate.stderr
    assert "database upgraded" in migrate.stdout

    page = run_outside(installed, tmp_path, (
        "from idp import create_app\n"
        "client = create_app({'TESTING': True}).test_client()\n"
        "response = client.get('/login', headers={'Accept-Language': 'ar'})\n"
        "print(response.status_code)\n"
        "print(response.get_data(as_text=True))\n"))
    assert page.returncode == 0, page.stderr
    status, html = page.stdout.split("\n", 1)
    assert status == "200"
    assert 'lang="ar"' in html and 'dir="rtl"' in html
    assert "كلمة المرور" in html  # "Password", from the compiled catalogue inside the wheel
    # Generated secrets and the SQLite database went to the working directory, not site-packages.
    assert (tmp_path / "instance" / "idp.sqlite3").is_file()
    assert not (installed / "instance").exists()
