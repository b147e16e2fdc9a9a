"""Locks of identities in the database (idp.identity.locks.DatabaseLocks): within one transaction
a lock row is read once — a sign-in's check, its second-factor check and its success ask the
same rows — and a new transaction reads afresh, so a lock written elsewhere is never missed."""
from __future__ import annotations

from idp.identity.locks import FOREVER, WHOLE, DatabaseLocks
from tests.oidc.test_statement_counts import StatementLog

ACCOUNT, SOURCE = "a" * 64, "i" + "b" * 40


def test_a_source_and_the_whole_account_are_read_together_once_per_transaction(services, db):
    locks, log = DatabaseLocks(db), StatementLog(services.db.engine)
    try:
        with log.counting():
            assert locks.until(ACCOUNT, SOURCE) == 0.0
            assert locks.until(ACCOUNT, WHOLE) == 0.0
            assert locks.until(ACCOUNT, SOURCE) == 0.0
            locks.reset(ACCOUNT, SOURCE)  # read as absent in this transaction: nothing to delete
            locks.reset(ACCOUNT, WHOLE)
        assert len(log.statements) == 1, log.statements
    finally:
        log.close()


def test_a_lock_written_by_another_request_is_seen_in_the_next_transaction(services, db):
    locks = DatabaseLocks(db)
    assert locks.until(ACCOUNT, SOURCE) == 0.0
    db.commit()
    other = services.db.session()
    try:
        DatabaseLocks(other).lock(ACCOUNT, SOURCE, FOREVER)
        other.commit()
    finally:
        other.close()
    assert locks.until(ACCOUNT, SOURCE) == FOREVER


def test_a_lock_written_through_the_book_is_read_back_and_reset(db):
    locks = DatabaseLocks(db)
    assert locks.until(ACCOUNT, WHOLE) == 0.0
    assert locks.count_failure(ACCOUNT, WHOLE) == 1
    locks.lock(ACCOUNT, WHOLE, FOREVER)
    assert locks.until(ACCOUNT, WHOLE) == FOREVER
    locks.reset(ACCOUNT, WHOLE)
    db.commit()
    assert DatabaseLocks(db).until(ACCOUNT, WHOLE) == 0.0
