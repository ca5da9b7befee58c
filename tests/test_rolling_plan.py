"""Batch planning and templates for rolling restarts (pure)."""

import pytest

from herd.errors import UsageError
from herd.operations.rolling.plan import chunks, expand, parse_batch, port_of, split_batches

HOSTS = [f"web{i:02d}" for i in range(1, 11)]


@pytest.mark.parametrize("spec,sizes", [
    ("1", [1] * 10),
    ("3", [3, 3, 3, 1]),
    ("25%", [2, 2, 2, 2, 2]),       # 25% of 10 = 2.5, rounded down
    ("5%", [1] * 10),               # at least 1
    ("100%", [10]),
    ("1,5,25%", [1, 5, 2, 2]),      # ramp: 1, then 5, then 25% (2) until done
    ("1,50%", [1, 5, 4]),
])
def test_split_batches(spec, sizes):
    batches = split_batches(HOSTS, parse_batch(spec))
    assert [len(b) for b in batches] == sizes
    assert [h for b in batches for h in b] == HOSTS  # inventory order, each host once


@pytest.mark.parametrize("spec,message", [
    ("0", "--batch 0: '0' must be at least 1"),
    ("abc", "--batch abc: 'abc' is not a count or a percentage (e.g. 1, 25%, 1,5,25%)"),
    ("1,,2", "--batch 1,,2: '' is not a count or a percentage (e.g. 1, 25%, 1,5,25%)"),
    ("150%", "--batch 150%: '150%' must be at least 1 and at most 100%"),
])
def test_bad_batch_specs(spec, message):
    with pytest.raises(UsageError) as err:
        parse_batch(spec)
    assert str(err.value) == message


def test_port_and_templates():
    assert port_of("tornado-8081") == "8081"
    assert port_of("worker") == ""
    assert expand("http://{address}:{port}/", address="10.0.0.1", port="8081", host="web01") == \
        "http://10.0.0.1:8081/"
    with pytest.raises(UsageError, match="cannot fill 'http://{addr}/'"):
        expand("http://{addr}/", address="a", port="1", host="h")


def test_chunks():
    assert chunks(["a", "b", "c"], 2) == [["a", "b"], ["c"]]
    assert chunks(["a", "b", "c"], 1) == [["a"], ["b"], ["c"]]
