"""The floor arithmetic of `make bench` (bench/floor.py): what each side spends above the CPU of a
bare server answering the same number of requests, and the ratio the table prints."""
import pytest

from bench import floor
from bench.run import above_floor_cell, floor_lines

FLOORS = {"ours": {"server": {"cpu_ms_per_request": 0.2, "what": "bare WSGI"},
                   "framework": {"cpu_ms_per_request": 0.35, "what": "bare Flask"}},
          "reference": {"server": {"cpu_ms_per_request": 0.1, "what": "bare node:http"},
                        "framework": {"cpu_ms_per_request": 0.15, "what": "bare Koa"}}}


@pytest.mark.parametrize("cpu,requests,per_request,left", [
    (2.0, 2, 0.2, 1.6),   # a code flow: two requests
    (0.45, 1, 0.2, 0.25),
    (0.1, 1, 0.2, 0.0),   # below the floor (noise): never negative
    (3.0, 0, 0.2, 3.0),
])
def test_above_floor_takes_one_floor_per_request(cpu, requests, per_request, left):
    assert floor.above_floor(cpu, requests, per_request) == pytest.approx(left)


def test_compare_above_floor_gives_each_side_and_the_ratio_per_level():
    ours = {"cpu_ms_per_op": 7.9, "requests_per_op": 2}
    reference = {"cpu_ms_per_op": 2.8, "requests_per_op": 2}
    compared = floor.compare_above_floor(ours, reference, FLOORS)
    assert compared["server"]["ours"] == pytest.approx(7.5)
    assert compared["server"]["reference"] == pytest.approx(2.6)
    assert compared["server"]["ratio"] == pytest.approx(7.5 / 2.6)
    assert compared["framework"]["ours"] == pytest.approx(7.2)
    assert compared["framework"]["ratio"] == pytest.approx(7.2 / 2.5)


def test_nothing_left_above_the_reference_floor_has_no_ratio():
    compared = floor.compare_above_floor({"cpu_ms_per_op": 0.5, "requests_per_op": 1},
                                         {"cpu_ms_per_op": 0.1, "requests_per_op": 1}, FLOORS)
    assert compared["server"]["ratio"] is None
    assert above_floor_cell(compared) == "- / -"


def test_the_table_prints_the_floors_and_the_requests_per_operation():
    row = {"operation": "userinfo", "reference": {"requests_per_op": 1}, "ours": {"requests_per_op": 1}}
    text = "\n".join(floor_lines({"floor": FLOORS, "rows": [row]}))
    assert "ours 0.200 ms (bare WSGI); reference 0.100 ms (bare node:http); ratio 2.00×" in text
    assert "userinfo 1/1" in text
    assert floor_lines({"rows": [row]}) == []  # a report without floors (an older JSON) prints none
