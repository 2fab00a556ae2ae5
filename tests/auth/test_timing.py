"""Response times do not tell which usernames exist: an unknown user costs the same password check."""

from __future__ import annotations

import statistics
import time

from tests.conftest import csrf_from

ROUNDS = 7


def test_a_wrong_password_answers_as_slowly_for_unknown_users_as_for_real_ones(app, make_user):
    real = [make_user(f"real{i}", password=f"the real password {i}") for i in range(ROUNDS + 1)]
    sso_only = make_user("sso-only")  # no password: checked against the same dummy hash
    unknown = [f"ghost{i}" for i in range(ROUNDS + 1)]
    client = app.test_client()
    token = csrf_from(client.get("/login").get_data(as_text=True))

    def seconds(username: str, number: int) -> float:
        form = {"username": username, "password": "a wrong password", "csrf_token": token}
        started = time.perf_counter()
        resp = client.post("/login", data=form, environ_base={"REMOTE_ADDR": f"198.51.100.{number}"})
        elapsed = time.perf_counter() - started
        assert resp.status_code == 401 and "Unknown username or wrong password." in resp.get_data(as_text=True)
        return elapsed

    seconds(real[-1], 200), seconds(unknown[-1], 201)  # warm-up: first queries, the dummy hash
    times = {"real": [], "unknown": [], "sso-only": []}
    for i in range(ROUNDS):  # interleaved, so a busy moment of the machine hits all alike
        times["real"].append(seconds(real[i], 3 * i + 1))
        times["unknown"].append(seconds(unknown[i], 3 * i + 2))
        if i < 3:  # an account's failures from the fifth on would be throttled
            times["sso-only"].append(seconds(sso_only, 3 * i + 3))
    ms = {kind: statistics.median(values) * 1000 for kind, values in times.items()}
    print("\nwrong password, median ms: " + ", ".join(f"{kind} {value:.0f}" for kind, value in ms.items()))
    assert 0.5 <= ms["unknown"] / ms["real"] <= 2, ms
    assert 0.5 <= ms["sso-only"] / ms["real"] <= 2, ms
