"""Issue 9 "Done when": the production command (gunicorn, two workers) observed from outside.

Timings are never asserted here beyond "answers within a few seconds"; `make bench` reports them.
"""
from __future__ import annotations

import concurrent.futures
import os
import re
import signal
import socket
import subprocess
import threading
import time
from collections import Counter
from urllib.parse import urlencode

import requests
from aiosmtpd.controller import Controller

from idp.resources import CHECKOUT_DIR as PROJECT_ROOT
from tests.conftest import SmtpSink, csrf_token
from tests.live import free_port
from tests.ops.conftest import GUNICORN


def login_form(server) -> tuple[requests.Session, str]:
    browser = requests.Session()
    page = browser.get(server.url("/login"), timeout=10)
    return browser, csrf_token(page.text)


def test_metrics_are_one_scrape_for_every_worker(production):
    server = production()
    workers = server.worker_pids()
    assert len(workers) == 2
    before = server.metric("idp_request_seconds_count", endpoint="health.livez", status="200")
    sent = 0
    for paused in workers:  # the kernel may hand every connection to one worker: pause each in turn
        os.kill(paused, signal.SIGSTOP)
        try:
            for _ in range(10):
                assert requests.get(server.url("/livez"), timeout=10).status_code == 200
                sent += 1
        finally:
            os.kill(paused, signal.SIGCONT)
    time.sleep(0.5)
    served = Counter(line["pid"] for line in server.lines() if line.get("path") == "/livez")
    assert all(served[pid] >= 10 for pid in workers), served
    for _ in range(6):  # whichever worker answers the scrape, it counts every worker's requests
        after = server.metric("idp_request_seconds_count", endpoint="health.livez", status="200")
        assert after - before == sent
    assert server.metric("idp_build_info") == 1


def test_json_log_lines_carry_the_balancers_request_id_and_no_secrets(production):
    server = production()
    response = requests.get(server.url("/login"), headers={"X-Request-ID": "lb-5f2e9c.77"}, timeout=10)
    assert response.status_code == 200 and response.headers["X-Request-ID"] == "lb-5f2e9c.77"
    query = urlencode({"client_id": "no-such-client", "code": "CODE-SECRET-1", "state": "STATE-SECRET-2"})
    authorize = requests.get(server.url("/oidc/authorize?" + query), headers={"X-Request-ID": "lb-5f2e9c.78"},
                             timeout=10)
    assert authorize.headers["X-Request-ID"] == "lb-5f2e9c.78"
    time.sleep(0.5)  # the access log line is written after the response
    lines = server.lines()
    mine = [line for line in lines if line.get("request_id") == "lb-5f2e9c.77"]
    access = [line for line in mine if line["logger"] == "gunicorn.access"]
    app_line = [line for line in mine if line["logger"] == "idp.request"]
    assert access and access[0]["method"] == "GET" and access[0]["path"] == "/login" and access[0]["status"] == 200
    assert app_line and app_line[0]["route"] == "/login" and app_line[0]["status"] == 200
    for line in mine:
        assert line["instance"] == "test-instance" and "time" in line and "level" in line
    assert "duration_ms" in access[0] and "duration_ms" in app_line[0]
    text = server.text()
    assert "CODE-SECRET-1" not in text and "STATE-SECRET-2" not in text
    assert any(line.get("request_id") == "lb-5f2e9c.78" for line in lines)


def test_readyz_fails_within_seconds_while_redis_is_frozen_and_recovers(production, redis_server):
    server = production()
    assert requests.get(server.url("/readyz"), timeout=10).status_code == 200
    redis_server.freeze()
    try:
        response = requests.get(server.url("/readyz"), timeout=10)  # a hung probe would time out here
        assert response.status_code == 503
        assert response.json()["checks"]["store"] == "timeout"
        assert requests.get(server.url("/livez"), timeout=10).status_code == 200
        # a page whose session cannot be saved: the client gets 503, and so do the metrics
        assert requests.get(server.url("/login"), timeout=20).status_code == 503
    finally:
        redis_server.thaw()
    deadline = time.monotonic() + 20
    while requests.get(server.url("/readyz"), timeout=10).status_code != 200:
        assert time.monotonic() < deadline, "ready again after Redis thawed"
        time.sleep(0.2)
    assert server.metric("idp_request_seconds_count", endpoint="auth.login", status="503") == 1
    assert server.metric("idp_request_seconds_count", endpoint="auth.login", status="200") == 0
    assert server.metric("idp_request_seconds_count", endpoint="health.readyz", status="503") >= 1


def test_sign_ins_are_shed_with_503_while_livez_answers(production):
    server = production(IDP_PASSWORD_CHECKS_PER_WORKER=1)
    livez, stop = [], threading.Event()

    def probe():
        while not stop.is_set():
            livez.append(requests.get(server.url("/livez"), timeout=10).status_code)

    shed = []
    for burst in range(5):  # an overload: far more sign-ins at once than the workers may hash
        forms = [login_form(server) for _ in range(24)]
        prober = threading.Thread(target=probe)
        prober.start()

        def sign_in(n):
            browser, token = forms[n]
            return browser.post(server.url("/login"), timeout=30, data={
                "csrf_token": token, "username": f"nobody.{burst}.{n}", "password": "Wrong-Password-Entirely-42"})

        with concurrent.futures.ThreadPoolExecutor(24) as pool:
            answers = list(pool.map(sign_in, range(24)))
        stop.set()
        prober.join()
        stop.clear()
        assert {a.status_code for a in answers} <= {401, 503}
        shed += [a for a in answers if a.status_code == 503]
        if shed:
            break
    assert shed, "some sign-ins were shed"
    assert all(a.headers["Retry-After"] == "2" for a in shed)
    assert livez and set(livez) == {200}
    assert server.metric("idp_sign_ins_total", outcome="shed") == len(shed)


def test_sigterm_drains_and_finishes_requests_in_flight(production, identities, people):
    server = production(command="idp serve", IDP_DRAIN_SECONDS=2)
    browser = requests.Session()
    token = csrf_token(browser.get(server.url("/recover"), timeout=10).text)
    body = urlencode({"csrf_token": token, "national_id": people["citizen"].national_id,
                      "email": "someone@example.com"}).encode()
    cookies = "; ".join(f"{c.name}={c.value}" for c in browser.cookies)
    slow = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    slow.sendall(b"POST /recover HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                 b"Content-Type: application/x-www-form-urlencoded\r\n"
                 + f"Content-Length: {len(body)}\r\nCookie: {cookies}\r\n\r\n".encode() + body[:10])
    time.sleep(1)  # the request is in a worker, waiting for the rest of its body
    server.process.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    draining = requests.get(server.url("/readyz"), timeout=10)
    assert draining.status_code == 503 and draining.json()["checks"]["draining"] == "yes"
    time.sleep(2.5)  # past the drain: the worker no longer accepts, but this request is its own
    slow.sendall(body[10:])
    answer = b""
    while chunk := slow.recv(65536):
        answer += chunk
    slow.close()
    assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
    assert server.process.wait(60) == 0


def test_mail_queued_while_smtp_is_down_is_delivered_once_it_returns(production, identities, people):
    identities.make(people["citizen"], email="citizen@example.com")
    port = free_port()  # nothing listens there yet: the mail server is down
    server = production(IDP_SMTP_URL=f"smtp://127.0.0.1:{port}")
    browser = requests.Session()
    token = csrf_token(browser.get(server.url("/recover"), timeout=10).text)
    answer = browser.post(server.url("/recover"), timeout=10, data={
        "csrf_token": token, "national_id": people["citizen"].national_id, "email": "citizen@example.com"})
    assert answer.status_code == 200
    deadline = time.monotonic() + 20
    while "mail not delivered" not in server.text():  # the sender tried, and will try again
        assert time.monotonic() < deadline
        time.sleep(0.2)
    sink = SmtpSink()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        deadline = time.monotonic() + 60
        while not sink.to("citizen@example.com"):
            assert time.monotonic() < deadline, "delivered once SMTP returned"
            time.sleep(0.2)
        time.sleep(2)  # the other worker's sender must not send it again
        [message] = sink.to("citizen@example.com")
        assert re.search(r"/recover/link/\S+", sink.body(message))
    finally:
        controller.stop()


def test_several_workers_without_redis_refuse_to_start(app, services, tmp_path):
    settings = services.settings
    env = {"PATH": "/usr/bin:/bin", "IDP_DATABASE_URL": settings.database_url,
           "IDP_INSTANCE_PATH": settings.instance_path, "IDP_KEYS_PATH": settings.keys_path,
           "IDP_SECRET_KEY": settings.secret_key, "IDP_DATA_KEY": settings.data_key,
           "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics")}
    result = subprocess.run([GUNICORN, "-c", "config/gunicorn.conf.py", "--bind", f"127.0.0.1:{free_port()}",
                             "--workers", "2", "wsgi:app"], cwd=PROJECT_ROOT, env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode != 0
    assert "2 workers need a shared store: set IDP_REDIS_URL" in result.stderr
