"""Revision 0003 and the dashboard-session repository functions, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

from alembic import command
from sqlalchemy import Engine, create_engine, inspect, select

from ocppd.store import Store, auth_repo
from ocppd.store.engine import normalize_url
from ocppd.store.migration import alembic_config
from ocppd.store.types import utcnow


def _engine(url: str) -> Engine:
    return create_engine(normalize_url(url))


def test_0003_upgrades_a_0002_database_and_back(fresh_db_url: str) -> None:
    store = Store(fresh_db_url)
    store.migrate("0002")
    engine = _engine(fresh_db_url)
    try:
        with engine.begin() as conn:
            auth_repo.upsert_user(conn, "alice", "scrypt$hash", "admin")
        assert "web_sessions" not in inspect(engine).get_table_names()
        store.migrate("0003")
        assert store.current_revision() == "0003"
        inspector = inspect(engine)
        assert "web_sessions" in inspector.get_table_names()
        assert {ix["name"] for ix in inspector.get_indexes("web_sessions")} == {
            "ix_web_sessions_username",
            "ix_web_sessions_expires_at",
        }
        with engine.begin() as conn:
            assert auth_repo.get_user(conn, "alice") is not None  # existing users survive
            auth_repo.add_web_session(conn, "h" * 64, "alice", "admin", auth_repo.PASSWORD_LOGIN, utcnow())
        with engine.begin() as conn:
            command.downgrade(alembic_config(connection=conn), "0002")
        assert "web_sessions" not in inspect(engine).get_table_names()
        with engine.connect() as conn:
            assert auth_repo.get_user(conn, "alice") is not None
    finally:
        engine.dispose()
        store.engine.dispose()


def test_session_lifecycle(db_url: str) -> None:
    engine = _engine(db_url)
    now = utcnow()
    later = now + timedelta(hours=12)
    try:
        with engine.begin() as conn:
            auth_repo.upsert_user(conn, "alice", "scrypt$1", "admin")
            auth_repo.upsert_user(conn, "bob", "scrypt$1", "read-only")
            auth_repo.add_web_session(conn, "a1", "alice", "admin", auth_repo.PASSWORD_LOGIN, later)
            auth_repo.add_web_session(conn, "a2", "alice", "admin", auth_repo.PASSWORD_LOGIN, later)
            auth_repo.add_web_session(conn, "b1", "bob", "read-only", auth_repo.PASSWORD_LOGIN, later)
            # An API-key login that happens to carry a user's name is not that user's session.
            auth_repo.add_web_session(conn, "k1", "alice", "admin", auth_repo.api_key_login("k"), later)
            auth_repo.add_web_session(conn, "old", "bob", "read-only", auth_repo.PASSWORD_LOGIN, now)
        with engine.begin() as conn:
            row = auth_repo.get_web_session(conn, "a1")
            assert row is not None and row.username == "alice" and row.role == "admin" and row.valid_at(utcnow())
            assert row.expires_at == later
            assert auth_repo.get_web_session(conn, "nope") is None
            assert not auth_repo.get_web_session(conn, "old").valid_at(utcnow())  # type: ignore[union-attr]
            assert {s.session_hash for s in auth_repo.list_web_sessions(conn)} == {"a1", "a2", "b1", "k1"}

            touched = now + timedelta(minutes=5)
            auth_repo.touch_web_session(conn, "a1", touched)
            assert auth_repo.get_web_session(conn, "a1").last_seen_at == touched  # type: ignore[union-attr]

            assert auth_repo.revoke_web_session(conn, "a1") is True  # logout
            assert auth_repo.revoke_web_session(conn, "a1") is False
            assert not auth_repo.get_web_session(conn, "a1").valid_at(utcnow())  # type: ignore[union-attr]

            auth_repo.upsert_user(conn, "alice", "scrypt$2", "admin")  # password change
            assert auth_repo.get_web_session(conn, "a2").revoked_at is not None  # type: ignore[union-attr]
            assert auth_repo.get_web_session(conn, "k1").revoked_at is None  # type: ignore[union-attr]
            assert auth_repo.get_web_session(conn, "b1").revoked_at is None  # type: ignore[union-attr]

            assert auth_repo.delete_user(conn, "bob") is True
            assert auth_repo.get_web_session(conn, "b1").revoked_at is not None  # type: ignore[union-attr]

            auth_repo.add_api_key(conn, "k", "ci", "x" * 64, "admin")
            assert auth_repo.revoke_api_key(conn, "k") is True
            assert auth_repo.get_web_session(conn, "k1").revoked_at is not None  # type: ignore[union-attr]

            auth_repo.add_web_session(conn, "c1", "carol", "admin", auth_repo.PASSWORD_LOGIN, later)
            assert auth_repo.revoke_user_sessions(conn, "carol") == 1
            assert auth_repo.revoke_user_sessions(conn, "carol") == 0

            # Pruning deletes what has expired, revoked or not; the rest stays for the record.
            assert auth_repo.prune_web_sessions(conn, utcnow()) == 1
            left = {r.session_hash for r in auth_repo.list_web_sessions(conn, valid_only=False)}
            assert left == {"a1", "a2", "b1", "k1", "c1"}
            assert auth_repo.prune_web_sessions(conn, later + timedelta(seconds=1)) == 5
            assert conn.execute(select(auth_repo.web_sessions)).first() is None
    finally:
        engine.dispose()
