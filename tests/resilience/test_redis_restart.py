"""Redis restarted empty, or down for a while: no one is signed out, because sign-in sessions live
in the database (issue 8). The app here runs on a redis-server of the test's own."""
import pytest

from idp.store.redis import RedisStore
from tests.conftest import Web


@pytest.fixture
def store(redis_server):
    """Every fixture built on `store` (app, web, identities) uses the test's own redis-server."""
    return RedisStore.from_url(redis_server.url)


def sign_in_everyone(app, people, identities):
    """Three citizens, one of them on two devices: four sessions."""
    made = [identities.make(people["citizen"], "citizen.one"),
            identities.make(people["citizen2"], "citizen.two", mobile="0551234568"),
            identities.make(people["resident"], "resident.one", mobile="0551234569")]
    devices = []
    for who, person in zip(made + made[:1], ("citizen", "citizen2", "resident", "citizen")):
        device = Web(app.test_client())
        assert device.login(who.username, who.password).status_code == 302
        devices.append((device, people[person].name_en))
    return made, devices


def still_signed_in(devices) -> int:
    survived = 0
    for device, name in devices:
        response = device.get("/account")
        if response.status_code == 200 and name in response.get_data(as_text=True):
            survived += 1
    return survived


def test_every_citizen_is_still_signed_in_after_redis_restarts_empty(app, redis_server, people, identities):
    made, devices = sign_in_everyone(app, people, identities)
    assert still_signed_in(devices) == 4

    redis_server.restart_empty()
    assert redis_server.client().dbsize() == 0  # truly empty: nothing was saved to disk

    assert still_signed_in(devices) == 4  # all four sessions survived
    # The forms still work: their CSRF tokens are in the (database) session too.
    first_device, _ = devices[0]
    assert first_device.logout(everywhere=True).status_code == 200
    assert devices[3][0].get("/account").status_code == 302  # the citizen's other device: signed out
    assert still_signed_in(devices[1:3]) == 2                # the others: untouched


def test_while_redis_is_down_signed_in_pages_work_and_sign_in_answers_503(app, redis_server, people,
                                                                          identities):
    made, devices = sign_in_everyone(app, people, identities)
    redis_server.kill()

    assert still_signed_in(devices) == 4
    newcomer = Web(app.test_client())
    response = newcomer.login(made[0].username, made[0].password)  # the throttle needs Redis
    assert response.status_code == 503 and response.headers["Retry-After"]

    redis_server.start()  # back, empty, on the same port: service resumes by itself
    assert newcomer.login(made[0].username, made[0].password).status_code == 302
    assert still_signed_in(devices + [(newcomer, people["citizen"].name_en)]) == 5


class TestALockHoldsAcrossARedisRestart:
    """The lock itself is in PostgreSQL (issue 8): a Redis restarted empty unlocks no one."""

    @pytest.fixture
    def app_overrides(self):
        from tests.web.test_lockout import CAPTCHA
        return {"TEST_CAPTCHA_ANSWER": CAPTCHA, "login_max_delay_seconds": 0}

    def test_a_locked_account_stays_locked(self, app, redis_server, people, identities):
        from tests.web.test_lockout import OWNER_IP, attack, browser, sign_in

        made = identities.make(people["citizen"])
        lockout = app.extensions["idp"].settings.login_lockout_after
        assert attack(app, made.username, lockout + 1, ip=OWNER_IP)[-2:] == [401, 429]

        redis_server.restart_empty()
        assert redis_server.client().dbsize() == 0

        # The right password from the same source is still refused: one lock survived.
        assert sign_in(browser(app, OWNER_IP), made.username, made.password).status_code == 429
