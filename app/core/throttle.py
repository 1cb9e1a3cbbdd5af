"""Sign-in throttling: too many wrong passwords for one username or from one address -> 429.

The policy is a sliding window: at most `per_user` failures for one username (across all
addresses) and `per_address` failures from one client address (across all usernames) within
`window_seconds`. A refused attempt is not even checked against its password (so it costs
no Argon2 either) and answers 429 with `Retry-After`: the seconds until the oldest failure
in the window ages out. A successful sign-in clears its username's failures.

Where the counts live:

- The service (`app.main`) keeps them **in the database** (`login_failure`, migration 0006),
  so every server process (`uvicorn --workers N`, several hosts) shares one count, and a
  restart forgets nothing. Each failure is one row written in its own short transaction (the
  request's own transaction rolls back on a failed sign-in); rows older than the window are
  deleted as new failures come. No username or address is stored: a row holds an
  HMAC-SHA256 of its key, keyed with the secret key.
- Without an engine (unit tests, tools) the counts are kept in memory, per process, bounded
  to `max_keys` keys.

The check and the record are two statements, not one: sign-ins of one username that are in
flight *at the same moment* in several processes are each checked before any of them is
recorded, so an attacker gets at most the limit plus the number of his concurrent requests.

Behind a reverse proxy, run uvicorn with `--proxy-headers --forwarded-allow-ips=<proxy>` so
the client address is the caller's and not the proxy's.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import threading
import time
import uuid
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable

from fastapi.responses import JSONResponse
from sqlalchemy import Double, Engine, Index, String, delete, insert, select
from sqlalchemy.orm import Mapped, mapped_column

from app.core.database import Base
from app.core.errors import PROBLEM_BASE, problem_response
from app.core.ids import uuid7
from app.core.messages import N_, Template

DEFAULT_PER_USER = 5
DEFAULT_PER_ADDRESS = 30
DEFAULT_WINDOW_SECONDS = 15 * 60
MAX_TRACKED_KEYS = 100_000  # memory bound: the least recently failed keys are forgotten first

EngineSource = Engine | Callable[[], Engine | None]


class LoginFailure(Base):
    """One wrong password, counted by the sign-in throttle (`LoginThrottle` below).

    Shared by every server process through the database. Holds no username and no address:
    `key_hash` is an HMAC-SHA256 (keyed with the secret key) of the throttle's key, e.g.
    `user:amussol/ana` or `addr:203.0.113.7`. Rows older than the window are deleted as new
    failures arrive.
    """

    __tablename__ = "login_failure"
    __table_args__ = (
        Index("ix_login_failure_key_hash_failed_at", "key_hash", "failed_at"),
        Index("ix_login_failure_failed_at", "failed_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    key_hash: Mapped[str] = mapped_column(String(64), comment="HMAC-SHA256 of the key, hex")
    failed_at: Mapped[float] = mapped_column(Double, comment="Unix time of the failure, seconds")


class LoginThrottle:
    """Counts failed sign-ins per key in a sliding window. Thread-safe.

    `engine` (an Engine, or a callable that returns the app's engine once it exists) keeps
    the counts in the database, shared by every process; without it they are in memory.
    `secret` keys the HMAC that stands for each key in the database.
    """

    def __init__(
        self,
        *,
        per_user: int = DEFAULT_PER_USER,
        per_address: int = DEFAULT_PER_ADDRESS,
        window_seconds: float = DEFAULT_WINDOW_SECONDS,
        clock: Callable[[], float] = time.time,
        max_keys: int = MAX_TRACKED_KEYS,
        engine: EngineSource | None = None,
        secret: str = "",
    ) -> None:
        self.per_user = per_user
        self.per_address = per_address
        self.window = window_seconds
        self.clock = clock
        self.max_keys = max_keys
        self._engine = engine
        self._secret = secret.encode()
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def keys(username: str, organisation: str | None, address: str | None) -> list[str]:
        """The keys one attempt counts against: its username (with organisation) and address."""
        name = username.strip().lower()
        if organisation:
            name = f"{organisation.strip().lower()}/{name}"
        keys = [f"user:{name}"]
        if address:
            keys.append(f"addr:{address}")
        return keys

    def _limit(self, key: str) -> int:
        return self.per_user if key.startswith("user:") else self.per_address

    def key_hash(self, key: str) -> str:
        """What stands for a key in the database: HMAC-SHA256 with the secret key, hex."""
        return hmac.new(
            self._secret, key.encode("utf-8", "surrogatepass"), hashlib.sha256
        ).hexdigest()

    def _db(self) -> Engine | None:
        if self._engine is None:
            return None
        if isinstance(self._engine, Engine):
            return self._engine
        return self._engine()

    # -- the policy ----------------------------------------------------------------------------

    def retry_after(self, keys: Iterable[str]) -> int | None:
        """Seconds to wait if any key is over its limit, else None."""
        keys = list(keys)
        now = self.clock()
        wait = 0.0
        recent = self._recent_times(keys, now)
        for key in keys:
            times = recent.get(key, [])
            limit = self._limit(key)
            if len(times) >= limit:
                # the oldest failure that keeps the key at its limit must age out
                oldest = times[len(times) - limit]
                wait = max(wait, oldest + self.window - now)
        return max(1, math.ceil(wait)) if wait > 0 else None

    def failed(self, keys: Iterable[str]) -> None:
        keys = list(keys)
        now = self.clock()
        engine = self._db()
        if engine is not None:
            self._db_failed(engine, keys, now)
            return
        with self._lock:
            for key in keys:
                times = self._memory_recent(key, now) or deque()
                times.append(now)
                self._failures[key] = times
                self._failures.move_to_end(key)
            while len(self._failures) > self.max_keys:
                self._failures.popitem(last=False)

    def succeeded(self, keys: Iterable[str]) -> None:
        """A right password clears its username's failures (not its address's)."""
        users = [key for key in keys if key.startswith("user:")]
        if not users:
            return
        engine = self._db()
        if engine is not None:
            with engine.begin() as conn:
                conn.execute(
                    delete(LoginFailure).where(
                        LoginFailure.key_hash.in_([self.key_hash(k) for k in users])
                    )
                )
            return
        with self._lock:
            for key in users:
                self._failures.pop(key, None)

    # -- storage -------------------------------------------------------------------------------

    def _recent_times(self, keys: list[str], now: float) -> dict[str, list[float]]:
        """Each key's failures within the window, oldest first (at most its limit of them)."""
        engine = self._db()
        if engine is None:
            with self._lock:
                out = {}
                for key in keys:
                    times = self._memory_recent(key, now)
                    if times is not None:
                        out[key] = list(times)
                return out
        out = {}
        with engine.connect() as conn:
            for key in keys:
                newest = conn.scalars(
                    select(LoginFailure.failed_at)
                    .where(
                        LoginFailure.key_hash == self.key_hash(key),
                        LoginFailure.failed_at > now - self.window,
                    )
                    .order_by(LoginFailure.failed_at.desc())
                    .limit(self._limit(key))
                ).all()
                if newest:
                    out[key] = sorted(newest)
        return out

    def _db_failed(self, engine: Engine, keys: list[str], now: float) -> None:
        with engine.begin() as conn:
            # prune as we go: the index on failed_at makes this a short range delete
            conn.execute(delete(LoginFailure).where(LoginFailure.failed_at <= now - self.window))
            conn.execute(
                insert(LoginFailure),
                [{"id": uuid7(), "key_hash": self.key_hash(k), "failed_at": now} for k in keys],
            )

    def _memory_recent(self, key: str, now: float) -> deque[float] | None:
        times = self._failures.get(key)
        if times is None:
            return None
        while times and times[0] <= now - self.window:
            times.popleft()
        if not times:
            del self._failures[key]
            return None
        return times


TOO_MANY_ATTEMPTS = Template(
    "auth.too_many_attempts",
    N_("too many failed sign-ins for this username or address; retry in %(seconds)s s"),
)


def too_many_attempts(retry_after: int, instance: str) -> JSONResponse:
    """The 429 problem answer, with `Retry-After` in seconds."""
    message = TOO_MANY_ATTEMPTS(seconds=retry_after)
    body = {
        "type": PROBLEM_BASE + "too-many-attempts",
        "title": "Too many failed sign-ins",
        "status": 429,
        "detail": message.english(),
        "code": message.code,
        "params": message.plain_params(),
        "instance": instance,
        "retry_after": retry_after,
    }
    return problem_response(429, body, headers={"Retry-After": str(retry_after)})
