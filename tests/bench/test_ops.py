"""The production command under an overload of sign-ins and with Redis frozen: the numbers behind
issue 9 (shed vs served sign-ins, /livez and /readyz response times). Run with `make bench`;
printed, never asserted."""
import concurrent.futures
import statistics
import threading
import time

import pytest
import requests

from tests.conftest import csrf_token
from tests.ops.conftest import production, redis_server  # noqa: F401 - fixtures


def timed(call):
    started = time.perf_counter()
    response = call()
    return response, time.perf_counter() - started


def summary(name, seconds):
    seconds = sorted(seconds)
    p95 = seconds[int(len(seconds) * 0.95) - 1] if len(seconds) >= 20 else seconds[-1]
    print(f"{name}: n={len(seconds)} median={statistics.median(seconds) * 1000:.1f} ms "
          f"p95={p95 * 1000:.1f} ms max={seconds[-1] * 1000:.1f} ms")


@pytest.mark.bench
def test_sign_in_overload(production):  # noqa: F811
    server = production()
    forms = []
    for _ in range(96):
        browser = requests.Session()
        forms.append((browser, csrf_token(browser.get(server.url("/login"), timeout=10).text)))
    livez, stop = [], threading.Event()

    def probe():
        while not stop.is_set():
            livez.append(timed(lambda: requests.get(server.url("/livez"), timeout=30))[1])

    def sign_in(n):
        browser, token = forms[n]
        return timed(lambda: browser.post(server.url("/login"), timeout=60, data={
            "csrf_token": token, "username": f"bench.{n}", "password": "Wrong-Password-Entirely-42"}))

    prober = threading.Thread(target=probe)
    prober.start()
    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(48) as pool:
        answers = list(pool.map(sign_in, range(96)))
    elapsed = time.perf_counter() - started
    stop.set()
    prober.join()
    shed = [s for r, s in answers if r.status_code == 503]
    served = [s for r, s in answers if r.status_code == 401]
    print(f"\n96 sign-ins, 48 at a time, 2 workers: {len(served)} checked, {len(shed)} shed, {elapsed:.1f} s")
    summary("checked sign-ins", served)
    if shed:
        summary("shed sign-ins", shed)
    summary("/livez during the burst", livez)


@pytest.mark.bench
def test_readyz_while_redis_is_frozen(production, redis_server):  # noqa: F811
    server = production()
    redis_server.freeze()
    try:
        times = [timed(lambda: requests.get(server.url("/readyz"), timeout=30))[1] for _ in range(10)]
    finally:
        redis_server.thaw()
    summary("/readyz with Redis frozen", times)
