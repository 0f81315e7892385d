"""``python -m bench.settlement_close``: close a settlement window holding N committed transfers
and create its settlement, timed, on SQLite and/or PostgreSQL.

What is inserted (bulk, not through the FSPIOP API; see docs/performance.md): D DFSPs with
POSITION and SETTLEMENT accounts in XXX, the hub's accounts, a DEFERRED NET model; for N random
transfers between the DFSPs, their ledger effect (two ``ledger_entry`` rows per transfer, payer
+amount and payee -amount, with running ``value_after``; final ``position`` values) and the
``window_flow`` aggregate the clearing core maintains at commit (one row per payer/payee pair).
The transfers table itself is not filled: closing and netting never read it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sqlite3
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
from sqlalchemy import insert, select, update

from mojahub.ledger.model import PRINCIPLE_VALUE
from mojahub.ledger.tables import position
from mojahub.participants.tables import account, ledger_account_type, participant, settlement_model
from mojahub.settlement import settlements, windows
from mojahub.settlement.service import open_window_id
from mojahub.settlement.tables import window_flow
from mojahub.storage.engine import Database, open_database
from mojahub.storage.migrate import upgrade

PG_BASE = os.environ.get("MOJAHUB_TEST_PG", "postgresql+asyncpg://postgres@127.0.0.1:5432")
PG_DB = "mojahub_bench_settlement_d"
NOW = datetime(2026, 1, 1, tzinfo=UTC)


async def _pg_admin(sql: str) -> None:
    conn = await asyncpg.connect(PG_BASE.replace("postgresql+asyncpg://", "postgresql://") + "/postgres")
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def sqlite_file(workdir: Path) -> str:
    """A fresh SQLite file (prepared before the event loop starts)."""
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / "settlement_bench.db"
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    return f"sqlite+aiosqlite:///{path}"


async def _fresh(backend: str, sqlite_url: str) -> tuple[Database, str]:
    if backend == "postgres":
        await _pg_admin(f'DROP DATABASE IF EXISTS "{PG_DB}" WITH (FORCE)')
        await _pg_admin(f'CREATE DATABASE "{PG_DB}"')
        url = f"{PG_BASE}/{PG_DB}"
    else:
        url = sqlite_url
    db = open_database(url)
    await upgrade(db.engine)
    return db, url


async def _setup(db: Database, dfsps: int) -> list[int]:
    async with db.write() as conn:
        lat = {r.name: r.id for r in (await conn.execute(select(ledger_account_type))).all()}
        await conn.execute(insert(settlement_model).values(
            name="DEFERREDNETXXX", is_active=True, settlement_granularity="NET", settlement_interchange="MULTILATERAL",
            settlement_delay="DEFERRED", currency="XXX", require_liquidity_check=False,
            ledger_account_type_id=lat["POSITION"], settlement_account_type_id=lat["SETTLEMENT"],
            auto_position_reset=True, created_at=NOW))
        positions = []
        for i in range(dfsps + 1):
            name = "Hub" if i == dfsps else f"dfsp{i:03d}"
            pid = (await conn.execute(insert(participant).values(
                name=name, is_active=True, is_proxy=False, created_at=NOW, created_by="bench"))).inserted_primary_key
            assert pid is not None
            types = ("HUB_RECONCILIATION", "HUB_MULTILATERAL_SETTLEMENT") if name == "Hub" \
                else ("POSITION", "SETTLEMENT")
            for t in types:
                res = await conn.execute(insert(account).values(
                    participant_id=pid[0], currency="XXX", ledger_account_type_id=lat[t], is_active=True,
                    created_at=NOW, created_by="bench"))
                assert res.inserted_primary_key is not None
                aid = int(res.inserted_primary_key[0])
                await conn.execute(insert(position).values(account_id=aid, value=0, reserved_value=0, changed_at=NOW))
                if t == "POSITION":
                    positions.append(aid)
    return positions


async def _load(db: Database, url: str, positions: list[int], n: int, seed: int) -> float:
    """Bulk-insert the ledger effect and window aggregate of ``n`` committed transfers."""
    t0 = time.perf_counter()
    rng = random.Random(seed)
    values: dict[int, int] = defaultdict(int)
    pairs: dict[tuple[int, int], list[int]] = defaultdict(lambda: [0, 0])
    entries: list[tuple[int, str, str, int, int, int, datetime]] = []
    for i in range(n):
        payer, payee = rng.sample(positions, 2)
        amount = rng.randint(1, 10_000) * 10_000
        tid = f"bench-{i:08d}"
        values[payer] += amount
        values[payee] -= amount
        entries.append((payer, tid, PRINCIPLE_VALUE, amount, values[payer], 0, NOW))
        entries.append((payee, tid, PRINCIPLE_VALUE, -amount, values[payee], 0, NOW))
        pair = pairs[(payer, payee)]
        pair[0] += amount
        pair[1] += 1
    async with db.write() as conn:
        window_id = await open_window_id(conn, now=NOW)
    cols = ["account_id", "transfer_id", "entry_type", "change", "value_after", "reserved_after", "created_at"]
    if db.is_postgres:
        raw = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
        try:
            await raw.copy_records_to_table("ledger_entry", records=entries, columns=cols)
        finally:
            await raw.close()
    else:
        path = url.removeprefix("sqlite+aiosqlite:///")
        lite = sqlite3.connect(path)
        lite.executemany(
            f"INSERT INTO ledger_entry ({', '.join(cols)}) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(*e[:6], e[6].replace(tzinfo=None).isoformat(sep=" ")) for e in entries],
        )
        lite.commit()
        # Fold the bulk load's WAL into the database now, so no timed transaction pays for it.
        lite.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        lite.close()
    async with db.write() as conn:
        for aid, v in values.items():
            await conn.execute(update(position).where(position.c.account_id == aid).values(value=v))
        await conn.execute(insert(window_flow), [
            {"window_id": window_id, "payer_account_id": p, "payee_account_id": q, "currency": "XXX",
             "amount": a, "transfer_count": c}
            for (p, q), (a, c) in sorted(pairs.items())
        ])
    assert sum(values.values()) == 0
    return time.perf_counter() - t0


async def run_backend(backend: str, n: int, dfsps: int, sqlite_url: str) -> dict[str, float]:
    db, url = await _fresh(backend, sqlite_url)
    try:
        positions = await _setup(db, dfsps)
        load_s = await _load(db, url, positions, n, seed=7)
        out: dict[str, float] = {"load_s": load_s}
        for run in ("cold", "warm"):
            # "warm": the same window content again, with SQLAlchemy's statement cache and the
            # connection pool warm, as in a hub that has been running.
            if run == "warm":
                load_s = await _load(db, url, positions, n, seed=8)
            async with db.read() as conn:
                window_id = await open_window_id(conn, now=NOW, lock=False)
            t0 = time.perf_counter()
            async with db.write() as conn:
                await windows.close_window(conn, window_id, "bench close", now=NOW)
            close_s = time.perf_counter() - t0
            t1 = time.perf_counter()
            async with db.write() as conn:
                s = await settlements.create_settlement(conn, "DEFERREDNETXXX", "bench", [window_id], now=NOW)
            settle_s = time.perf_counter() - t1
            assert sum(a.net_amount for a in s.accounts) == 0
            assert len(s.accounts) == dfsps
            out.update({f"{run}_close_s": close_s, f"{run}_create_settlement_s": settle_s,
                        f"{run}_total_s": close_s + settle_s})
        out["accounts"] = len(s.accounts)
        return out
    finally:
        await db.dispose()
        if backend == "postgres":
            await _pg_admin(f'DROP DATABASE IF EXISTS "{PG_DB}" WITH (FORCE)')


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.settlement_close", description=__doc__)
    p.add_argument("--backend", default="sqlite,postgres")
    p.add_argument("--transfers", type=int, default=1_000_000)
    p.add_argument("--dfsps", type=int, default=20)
    p.add_argument("--workdir", default="/tmp/mojahub-bench-settlement")
    args = p.parse_args(argv)
    for backend in args.backend.split(","):
        lite = sqlite_file(Path(args.workdir)) if backend == "sqlite" else ""
        r = asyncio.run(run_backend(backend, args.transfers, args.dfsps, lite))
        for run in ("cold", "warm"):
            print(f"{backend} {run}: transfers={args.transfers} dfsps={args.dfsps} load={r['load_s']:.1f}s "
                  f"close={r[run + '_close_s'] * 1000:.1f}ms "
                  f"create_settlement={r[run + '_create_settlement_s'] * 1000:.1f}ms "
                  f"total={r[run + '_total_s'] * 1000:.1f}ms accounts={r['accounts']:.0f}")


if __name__ == "__main__":
    main()
