"""Which store the reference provider keeps its state in (bench/run.py reference_adapter): its own
memory unless BENCH_REFERENCE_ADAPTER=redis, which needs the bench's Redis."""
import pytest

from bench.run import reference_adapter


def test_the_reference_keeps_its_state_in_memory_by_default(monkeypatch):
    monkeypatch.delenv("BENCH_REFERENCE_ADAPTER", raising=False)
    assert reference_adapter() == "memory"


def test_redis_needs_the_benchs_redis(monkeypatch):
    monkeypatch.setenv("BENCH_REFERENCE_ADAPTER", "redis")
    monkeypatch.delenv("IDP_BENCH_REDIS_URL", raising=False)
    with pytest.raises(SystemExit, match="needs IDP_BENCH_REDIS_URL"):
        reference_adapter()
    monkeypatch.setenv("IDP_BENCH_REDIS_URL", "redis://127.0.0.1:6379/12")
    assert reference_adapter() == "redis"


def test_an_unknown_adapter_is_refused(monkeypatch):
    monkeypatch.setenv("BENCH_REFERENCE_ADAPTER", "mongodb")
    with pytest.raises(SystemExit, match="memory or redis"):
        reference_adapter()
