"""Two IdP processes (gunicorn) on one PostgreSQL and one Redis, with each request going to the
other one, as a load balancer would send them; Redis restarted empty half-way (issue 8).

Each instance has its own instance folder: no shared filesystem, only the settings they are given.
"""
import datetime as dt
import os
import re
import secrets
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from cryptography.fernet import Fernet

from idp import create_app
from idp.db import Database
from idp.identity import accounts
from idp.models import RegistryPerson
from idp.store.redis import RedisStore
from tests import second_factor
from tests.conftest import STRONG_PASSWORD, make_national_id
from tests.live import free_port

ROOT = Path(__file__).resolve().parents[2]
GUNICORN = Path(sys.executable).parent / "gunicorn"


def wait_until_up(url: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60  # a busy machine imports slowly
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"instance at {url} exited with {process.returncode}")
        try:
            if requests.get(url + "/healthz", timeout=10).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"instance at {url} did not answer /healthz")


@pytest.fixture
def two_instances(pg_cluster, redis_server, tmp_path, smtp):
    if not GUNICORN.exists():
        pytest.skip("gunicorn is not installed in this environment")
    pg_cluster.create_database("idp")
    database_url = pg_cluster.url("idp")
    Database(database_url).upgrade()
    shared = {"IDP_DATABASE_URL": database_url, "IDP_REDIS_URL": redis_server.url,
              "IDP_SECRET_KEY": secrets.token_urlsafe(32), "IDP_DATA_KEY": Fernet.generate_key().decode(),
              "IDP_SUBJECT_SALT": secrets.token_urlsafe(32),
              "IDP_SMTP_URL": smtp.url}
    ports = [free_port(), free_port()]
    shared["IDP_ISSUER"] = f"http://127.0.0.1:{ports[0]}"
    # Signing keys live in the database: made once, through the CLI of an instance like the others
    # (an instance is not ready without them).
    made = subprocess.run([sys.executable, "-c", "from idp.cli import main; main()", "keys", "generate"],
                          env={**os.environ, **shared, "IDP_INSTANCE_PATH": str(tmp_path / "admin-keys")},
                          capture_output=True, text=True, timeout=120)
    assert made.returncode == 0, made.stderr
    processes, urls, logs = [], [], []
    for number, port in enumerate(ports):
        logs.append((tmp_path / f"instance{number}.log").open("wb"))
        env = {**os.environ, **shared, "IDP_INSTANCE_PATH": str(tmp_path / f"instance{number}"),
               "IDP_KEYS_PATH": str(tmp_path / f"keys{number}")}
        processes.append(subprocess.Popen(
            [str(GUNICORN), "wsgi:app", "--chdir", str(ROOT), "--bind", f"127.0.0.1:{port}", "--workers", "1",
             "--log-level", "warning"], env=env, stdout=subprocess.DEVNULL,
            stderr=logs[-1]))
        urls.append(f"http://127.0.0.1:{port}")
    try:
        for url, process in zip(urls, processes):
            wait_until_up(url, process)
        yield urls, database_url, shared["IDP_DATA_KEY"]
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
        for log in logs:
            log.close()


def make_citizen(database_url: str, redis_url: str, tmp_path, data_key: str) -> tuple[str, str]:
    """The citizen, with TOTP encrypted under the instances' data key; (name, TOTP secret)."""
    app = create_app({"instance_path": str(tmp_path / "admin"), "database_url": database_url, "data_key": data_key,
                      "store": RedisStore.from_url(redis_url)}, check_secrets=False)  # a helper, not an instance
    services = app.extensions["idp"]
    with services.db.session() as db:
        person = RegistryPerson(national_id=make_national_id("1", 1001), birth_date=dt.date(1990, 3, 15),
                                gender="M", name_ar="محمد", name_en="Mohammed Alqahtani", nationality="SAU")
        db.add(person)
        identity = accounts.create(db, person, "citizen.one", STRONG_PASSWORD, "citizen.one@example.com",
                                   "0551234567", active=True)
        secret = second_factor.turn_on_totp(db, services, identity)
        db.commit()
    services.db.dispose()
    return "Mohammed Alqahtani", secret


def csrf(html: str) -> str:
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)


def test_two_instances_one_session_requests_alternating(two_instances, redis_server, tmp_path):
    (first, second), database_url, data_key = two_instances
    name, secret = make_citizen(database_url, redis_server.url, tmp_path, data_key)
    browser = requests.Session()  # cookies are not per port: both instances see the one cookie

    page = browser.get(first + "/login", timeout=10)
    response = browser.post(second + "/login", data={"csrf_token": csrf(page.text), "username": "citizen.one",
                                                     "password": STRONG_PASSWORD},
                            allow_redirects=False, timeout=10)
    assert response.status_code == 302 and response.headers["Location"].endswith("/login/verify")
    page = browser.get(first + "/login/verify", timeout=10)  # the second factor, on the other instance
    response = browser.post(first + "/login/verify", data={"csrf_token": csrf(page.text),
                                                           "otp": second_factor.fresh_totp(secret)},
                            allow_redirects=False, timeout=10)
    assert response.status_code == 302, response.status_code

    for turn in range(6):
        instance = (first, second)[turn % 2]
        account = browser.get(instance + "/account", allow_redirects=False, timeout=10)
        assert account.status_code == 200 and name in account.text, (instance, account.status_code)
        if turn == 2:
            redis_server.restart_empty()  # mid-scenario: neither instance loses the session

    page = browser.get(first + "/logout", timeout=10)
    assert browser.post(second + "/logout", data={"csrf_token": csrf(page.text)}, timeout=10).status_code == 200
    for instance in (first, second):
        assert browser.get(instance + "/account", allow_redirects=False, timeout=10).status_code == 302
