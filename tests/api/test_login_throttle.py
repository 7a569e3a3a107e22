"""The login throttle's rule, without a server (the real-process test is in tests/integration)."""

from __future__ import annotations

from ocppd.api.auth import LOGIN_FORGET_S, LOGIN_MAX_WAIT_S, LoginThrottle, login_wait


def test_waits_double_after_the_free_failures_and_are_capped() -> None:
    assert [login_wait(n, free=5) for n in range(9)] == [0, 0, 0, 0, 0, 0, 1, 2, 4]
    assert login_wait(100, free=5) == LOGIN_MAX_WAIT_S


class Clock:
    now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_success_clears_the_user_but_not_the_address_and_old_failures_are_forgotten() -> None:
    clock = Clock()
    throttle = LoginThrottle(clock)
    for _ in range(6):
        throttle.failed("Alice", "10.0.0.1")
    assert throttle.retry_after("alice", "10.0.0.2") == 1.0  # user names are case-insensitive
    assert throttle.retry_after("bob", "10.0.0.1") == 0.0  # the address has 14 free failures left
    throttle.succeeded("alice")
    assert throttle.retry_after("alice", "10.0.0.2") == 0.0
    for _ in range(15):
        throttle.failed("", "10.0.0.1")  # token logins count for the address
    assert throttle.retry_after("bob", "10.0.0.1") == 1.0
    clock.now += LOGIN_FORGET_S + 1
    assert throttle.retry_after("bob", "10.0.0.1") == 0.0
