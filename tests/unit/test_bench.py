from __future__ import annotations

import math
import os
import time

import pytest
from bench.ceiling import parse_wrk
from bench.cpu import CpuMeter, cpu_seconds, process_tree
from bench.load import quote_material
from bench.run import chooser
from bench.stats import percentile, summarize
from hypothesis import given
from hypothesis import strategies as st

from mojahub.kernel import ilp

WRK_OUTPUT = """Running 5s test @ http://127.0.0.1:3510/
  2 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     6.45ms    3.21ms  41.22ms   80.01%
    Req/Sec     5.05k   612.33     6.20k    71.00%
  Latency Distribution
     50%    5.91ms
     75%    7.71ms
     90%   10.13ms
     99%   17.42ms
  50312 requests in 5.01s, 6.81MB read
Requests/sec:  10042.31
Transfer/sec:      1.36MB
"""


def test_wrk_output_is_parsed_into_rate_count_and_p99() -> None:
    assert parse_wrk(WRK_OUTPUT) == (10042.31, 50312, 17.42)


def test_wrk_p99_in_microseconds_and_seconds_is_converted_to_ms() -> None:
    assert parse_wrk(WRK_OUTPUT.replace("17.42ms", "870.00us"))[2] == pytest.approx(0.87)
    assert parse_wrk(WRK_OUTPUT.replace("17.42ms", "1.50s"))[2] == pytest.approx(1500.0)


def test_unexpected_wrk_output_is_an_error() -> None:
    with pytest.raises(ValueError, match="unexpected wrk output"):
        parse_wrk("unable to connect to 127.0.0.1:3510 Connection refused")


def test_nearest_rank_percentiles() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 99) == 99.0
    assert percentile(values, 100) == 100.0
    assert percentile([7.0], 99) == 7.0
    assert math.isnan(percentile([], 50))
    with pytest.raises(ValueError, match="outside"):
        percentile(values, 101)


@given(st.lists(st.floats(min_value=0, max_value=100, allow_nan=False), min_size=1, max_size=200))
def test_summary_percentiles_are_ordered_and_within_the_data(latencies: list[float]) -> None:
    s = summarize(latencies)
    assert s.count == len(latencies)
    assert min(latencies) * 1000 <= s.p50_ms <= s.p95_ms <= s.p99_ms <= s.max_ms == max(latencies) * 1000


def test_empty_summary_is_nan_not_an_error() -> None:
    s = summarize([])
    assert s.count == 0
    assert math.isnan(s.p99_ms)


NAMES = [f"bfsp{i:02d}" for i in range(1, 21)]


@pytest.mark.parametrize("kind", ["spread", "hot", "mix70"])
def test_choosers_never_pick_the_payer_as_payee(kind: str) -> None:
    pick = chooser(kind, NAMES)
    for seq in range(2000):
        payer, payee = pick(seq)
        assert payer != payee
        assert {payer, payee} <= set(NAMES)


def test_spread_uses_every_payer_evenly_and_hot_uses_one() -> None:
    spread = [chooser("spread", NAMES)(seq)[0] for seq in range(400)]
    assert {spread.count(n) for n in NAMES} == {20}
    assert {chooser("hot", NAMES)(seq)[0] for seq in range(400)} == {"bfsp01"}


def test_mix70_sends_seventy_percent_from_the_hot_payer() -> None:
    pick = chooser("mix70", NAMES)
    hot = sum(1 for seq in range(10_000) if pick(seq)[0] == "bfsp01")
    # 70 % hot plus the hot payer's 1/20 share of the spread 30 %.
    assert 7000 <= hot <= 7200


def test_a_chooser_needs_two_dfsps() -> None:
    with pytest.raises(ValueError, match="two DFSPs"):
        chooser("spread", ["only"])


def test_quote_material_condition_is_the_payees_hmac_fulfilment_hashed() -> None:
    material = quote_material("payer", "payee", "1.5", "USD", secret=b"s" * 32)
    payment = ilp.decode_packet(material.packet)
    assert isinstance(payment, ilp.IlpPayment)
    assert payment.amount == 150  # minor units
    assert payment.account == "g.payee.msisdn.2771380391"
    assert ilp.transaction_from_packet(material.packet)["amount"] == {"amount": "1.5", "currency": "USD"}
    fulfilment = ilp.fulfilment_for(b"s" * 32, material.packet)
    assert ilp.fulfilment_matches(fulfilment, material.condition)


def test_cpu_meter_sees_this_process_burn_cpu() -> None:
    pid = os.getpid()
    assert pid in process_tree(pid)
    before = cpu_seconds(pid)
    assert before is not None
    meter = CpuMeter(lambda: [pid])
    meter.start()
    deadline = time.process_time() + 0.15
    while time.process_time() < deadline:
        pass
    assert meter.stop() >= 0.1


def test_cpu_of_a_missing_process_is_none() -> None:
    assert cpu_seconds(2**22 + 12345) is None
