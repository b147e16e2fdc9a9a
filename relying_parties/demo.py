"""`make demo`: the IdP and both example relying parties, registered with each other and served
together. Ctrl-C stops all three.

    python -m relying_parties.demo [--ports IDP,MASAR,SAML_SP]

Ports default to 5000,5001,5002, or IDP_DEMO_PORTS="5000,5001,5002"; a port already in use stops
the demo with one line before anything is set up or printed.

Registration is idempotent: Masar's client credentials are kept in instance/masar-client.json
(mode 0600) and the SAML SP is registered from its own metadata the first time only.
"""
from __future__ import annotations

import argparse
import errno
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
INSTANCE = ROOT / "instance"
DEFAULT_PORTS = (5000, 5001, 5002)
IDP, MASAR, SAML_SP = (f"http://127.0.0.1:{port}" for port in DEFAULT_PORTS)  # set by use_ports()
MASAR_CLIENT_FILE = INSTANCE / "masar-client.json"
SAML_SP_ENTITY_ID = SAML_SP + "/saml/metadata"


class DemoError(Exception):
    """Said in one line on stderr; the demo exits non-zero."""


def parse_ports(text: str) -> tuple[int, int, int]:
    """"5000,5001,5002" → the IdP's, Masar's and the SAML SP's ports: three different, 1024–65535."""
    try:
        ports = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise DemoError(f"ports must be three numbers separated by commas, e.g. 5000,5001,5002 (got {text!r})") \
            from None
    if len(ports) != 3 or len(set(ports)) != 3 or not all(1024 <= p <= 65535 for p in ports):
        raise DemoError(f"ports must be three different numbers from 1024 to 65535 (got {text!r})")
    return ports


def check_free(ports) -> None:
    """Every port can be bound on 127.0.0.1 now; else the first busy one, in one line."""
    for port in ports:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError as e:
                reason = "is already in use" if e.errno == errno.EADDRINUSE else f"cannot be used ({e.strerror})"
                raise DemoError(f"port {port} {reason}: stop what uses it, or choose other ports with "
                                f"IDP_DEMO_PORTS=5100,5101,5102 make demo") from None


def use_ports(ports) -> None:
    global IDP, MASAR, SAML_SP, SAML_SP_ENTITY_ID
    IDP, MASAR, SAML_SP = (f"http://127.0.0.1:{port}" for port in ports)
    SAML_SP_ENTITY_ID = SAML_SP + "/saml/metadata"


def demo_env() -> dict:
    """Every app told where the others are."""
    return dict(os.environ, IDP_ISSUER=IDP, MASAR_IDP_ISSUER=IDP, MASAR_BASE_URL=MASAR,
                SAMLSP_BASE_URL=SAML_SP, SAMLSP_IDP_METADATA_URL=IDP + "/saml/metadata")


def idp(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    # our own `idp` program with an argument list, no shell
    return subprocess.run([str(BIN / "idp"), *args], cwd=ROOT, capture_output=True, text=True, check=check,  # noqa: S603
                          env=demo_env())


def setup() -> dict:
    """Keys, the synthetic registry and the demo identity (idp demo setup), then both portals."""
    idp("db", "upgrade")
    result = json.loads(idp("demo", "setup", "--json").stdout)
    idp("keys", "generate-saml", "--json")
    return result | {"masar": masar_client()} | {"saml_sp": register_saml_sp()}


def masar_client() -> dict:
    if MASAR_CLIENT_FILE.exists():
        saved = json.loads(MASAR_CLIENT_FILE.read_text())
        same_port = saved.get("base_url", "http://127.0.0.1:5001") == MASAR  # its redirect URI is on it
        shown = idp("rp", "show", saved["client_id"], "--json", check=False) if same_port else None
        # a client registered before back-channel logout or CIBA existed is registered again, with them
        described = json.loads(shown.stdout) if shown is not None and shown.returncode == 0 else {}
        if described.get("backchannel_logout_uri") and described.get("ciba"):
            return saved
    registered = json.loads(idp(
        "rp", "register-oidc", "--name", "منصة مسار — Masar", "--redirect-uri", MASAR + "/auth/callback",
        "--post-logout-redirect-uri", MASAR + "/", "--backchannel-logout-uri", MASAR + "/backchannel-logout",
        "--backchannel-logout-session-required", "--ciba", "--scope", "openid", "--scope", "profile",
        "--scope", "email", "--scope", "phone", "--json").stdout)
    saved = {"client_id": registered["client_id"], "client_secret": registered["client_secret"], "base_url": MASAR}
    INSTANCE.mkdir(exist_ok=True)
    fd = os.open(MASAR_CLIENT_FILE, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(saved, f)
    return saved


def register_saml_sp() -> dict:
    if idp("rp", "show", SAML_SP_ENTITY_ID, "--json", check=False).returncode == 0:
        return {"entity_id": SAML_SP_ENTITY_ID}
    metadata = subprocess.run([sys.executable, "-m", "relying_parties.saml_sp", "metadata"], cwd=ROOT,
                              capture_output=True, text=True, check=True, env=demo_env()).stdout
    with tempfile.NamedTemporaryFile("w", suffix=".xml", delete=False) as f:
        f.write(metadata)
    try:
        idp("rp", "register-saml", "--name", "Demo SAML service", "--metadata", f.name,
            "--require-signed-requests", "--json")
    finally:
        os.unlink(f.name)
    return {"entity_id": SAML_SP_ENTITY_ID}


def serve(masar: dict) -> int:
    env = dict(demo_env(), MASAR_CLIENT_ID=masar["client_id"], MASAR_CLIENT_SECRET=masar["client_secret"])
    gunicorn = str(BIN / "gunicorn")
    bind = {url: url.removeprefix("http://") for url in (IDP, MASAR, SAML_SP)}
    commands = [
        [gunicorn, "--workers", "1", "--threads", "8", "--bind", bind[IDP], "wsgi:app"],
        [gunicorn, "--workers", "1", "--threads", "4", "--bind", bind[MASAR], "relying_parties.masar.wsgi:app"],
        [gunicorn, "--workers", "1", "--threads", "4", "--bind", bind[SAML_SP], "relying_parties.saml_sp.wsgi:app"],
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make demo", description="The IdP, Masar and the SAML SP together.")
    parser.add_argument("--ports", default=os.environ.get("IDP_DEMO_PORTS") or ",".join(map(str, DEFAULT_PORTS)),
                        help="IdP,Masar,SAML SP ports (default 5000,5001,5002; or IDP_DEMO_PORTS)")
    args = parser.parse_args(argv)
    try:
        ports = parse_ports(args.ports)
        check_free(ports)  # before anything is set up or printed
    except DemoError as e:
        print(f"make demo: {e}", file=sys.stderr)
        return 2
    use_ports(ports)
    try:
        result = setup()
    except subprocess.CalledProcessError as e:
        print((e.stderr or e.stdout or str(e)).strip().splitlines()[-1], file=sys.stderr)
        return 1
    print(describe(result), flush=True)
    return serve(result["masar"])


if __name__ == "__main__":
    sys.exit(main())
