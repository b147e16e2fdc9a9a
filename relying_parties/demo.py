"""`make demo`: the IdP and both example relying parties, registered with each other and served
together. Ctrl-C stops all three.

    python -m relying_parties.demo

Registration is idempotent: Masar's client credentials are kept in instance/masar-client.json
(mode 0600) and the SAML SP is registered from its own metadata the first time only.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
INSTANCE = ROOT / "instance"
IDP, MASAR, SAML_SP = "http://127.0.0.1:5000", "http://127.0.0.1:5001", "http://127.0.0.1:5002"
MASAR_CLIENT_FILE = INSTANCE / "masar-client.json"
SAML_SP_ENTITY_ID = SAML_SP + "/saml/metadata"


def idp(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    # our own `idp` program with an argument list, no shell
    return subprocess.run([str(BIN / "idp"), *args], cwd=ROOT, capture_output=True, text=True, check=check)  # noqa: S603


def setup() -> dict:
    """Keys, the synthetic registry and the demo identity (idp demo setup), then both portals."""
    result = json.loads(idp("demo", "setup", "--json").stdout)
    idp("keys", "generate-saml", "--json")
    return result | {"masar": masar_client()} | {"saml_sp": register_saml_sp()}


def masar_client() -> dict:
    if MASAR_CLIENT_FILE.exists():
        saved = json.loads(MASAR_CLIENT_FILE.read_text())
        shown = idp("rp", "show", saved["client_id"], "--json", check=False)
        # a client registered before back-channel logout existed is registered again, with it
        if shown.returncode == 0 and json.loads(shown.stdout).get("backchannel_logout_uri"):
            return saved
    registered = json.loads(idp(
        "rp", "register-oidc", "--name", "منصة مسار — Masar", "--redirect-uri", MASAR + "/auth/callback",
        "--post-logout-redirect-uri", MASAR + "/", "--backchannel-logout-uri", MASAR + "/backchannel-logout",
        "--backchannel-logout-session-required", "--scope", "openid", "--scope", "profile",
        "--scope", "email", "--scope", "phone", "--json").stdout)
    saved = {"client_id": registered["client_id"], "client_secret": registered["client_secret"]}
    INSTANCE.mkdir(exist_ok=True)
    fd = os.open(MASAR_CLIENT_FILE, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(saved, f)
    return saved


def register_saml_sp() -> dict:
    if idp("rp", "show", SAML_SP_ENTITY_ID, "--json", check=False).returncode == 0:
        return {"entity_id": SAML_SP_ENTITY_ID}
    metadata = subprocess.run([sys.executable, "-m", "relying_parties.saml_sp", "metadata"], cwd=ROOT,
                              capture_output=True, text=True, check=True).stdout
    with tempfile.NamedTemporaryFile("w", suffix=".xml", delete=False) as f:
        f.write(metadata)
    try:
        idp("rp", "register-saml", "--name", "Demo SAML service", "--metadata", f.name,
            "--require-signed-requests", "--json")
    finally:
        os.unlink(f.name)
    return {"entity_id": SAML_SP_ENTITY_ID}


def serve(masar: dict) -> int:
    env = dict(os.environ, MASAR_CLIENT_ID=masar["client_id"], MASAR_CLIENT_SECRET=masar["client_secret"])
    gunicorn = str(BIN / "gunicorn")
    commands = [
        [gunicorn, "--workers", "1", "--threads", "8", "--bind", "127.0.0.1:5000", "wsgi:app"],
        [gunicorn, "--workers", "1", "--threads", "4", "--bind", "127.0.0.1:5001", "relying_parties.masar.wsgi:app"],
        [gunicorn, "--workers", "1", "--threads", "4", "--bind", "127.0.0.1:5002",
         "relying_parties.saml_sp.wsgi:app"],
    ]
    processes = [subprocess.Popen(command, cwd=ROOT, env=env)  # noqa: S603 (our own programs, no shell)
                 for command in commands]

    def stop(*_):
        for process in processes:
            if process.poll() is None:
                process.terminate()

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        while all(process.poll() is None for process in processes):
            try:
                processes[0].wait(timeout=1)
            except subprocess.TimeoutExpired:
                continue
    finally:
        stop()
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
    return 0


def describe(result: dict) -> str:
    c = result["demo_identity"]
    lines = ["", "  National SSO demo", "",
             f"  Identity provider (IdP)   {IDP}",
             f"  Masar portal (OIDC)       {MASAR}",
             f"  SAML service provider     {SAML_SP}", "",
             f"  Demo identity:  username {c['username']}   password {c['password']}",
             f"  Second factor:  TOTP key {c['totp_secret']} (add it to an authenticator app),",
             "                  or print the current code with: .venv/bin/idp demo code", "",
             "  People in the synthetic civil registry you can register as:"]
    for p in result["people_to_register"]:
        lines.append(f"    national ID {p['national_id']}  born {p['birth_date']} (Hijri {p['birth_date_hijri']})"
                     f"  gender {p['gender']}  {p['name_en']}")
    lines += ["", "  Mail (email confirmation, password reset) is written to instance/outbox/.",
              "  Press Ctrl-C to stop all three.", ""]
    return "\n".join(lines)


def main() -> int:
    try:
        result = setup()
    except subprocess.CalledProcessError as e:
        print((e.stderr or e.stdout or str(e)).strip().splitlines()[-1], file=sys.stderr)
        return 1
    print(describe(result), flush=True)
    return serve(result["masar"])


if __name__ == "__main__":
    sys.exit(main())
