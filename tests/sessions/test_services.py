"""The fixtures' servers: a missing binary fails the tests with what to install (skips with AGENTKIT_SKIP_SERVICES=1)."""

from __future__ import annotations

import pytest

from tests.sessions import services


@pytest.mark.parametrize(
    ("start", "install"), [(services.postgres_server, "postgresql"), (services.redis_server, "redis-server")]
)
def test_a_missing_server_fails_with_what_to_install(monkeypatch: pytest.MonkeyPatch, start: object, install: str) -> None:
    monkeypatch.setattr(services.shutil, "which", lambda name: None)
    monkeypatch.setattr(services.glob, "glob", lambda pattern: [])
    monkeypatch.delenv(services.SKIP_ENV, raising=False)
    with pytest.raises(pytest.fail.Exception, match=f"apt-get install {install}"), start():  # type: ignore[operator]
        pass
    monkeypatch.setenv(services.SKIP_ENV, "1")
    with pytest.raises(pytest.skip.Exception, match=f"apt-get install {install}"), start():  # type: ignore[operator]
        pass


def test_debian_postgres_binaries_are_found_off_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(services.shutil, "which", lambda name: None)
    found = ["/usr/lib/postgresql/9/bin/pg_ctl", "/usr/lib/postgresql/15/bin/pg_ctl", "/usr/lib/postgresql/13/bin/pg_ctl"]
    monkeypatch.setattr(services.glob, "glob", lambda pattern: found)
    assert services.postgres_bin("pg_ctl") == "/usr/lib/postgresql/15/bin/pg_ctl"
