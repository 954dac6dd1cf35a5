"""What a busy Exchange answers, from budgets rather than injected faults.

Exchange throttles EWS per caller (the account that authenticates) with a policy
(Microsoft, "EWS throttling in Exchange",
https://learn.microsoft.com/en-us/exchange/client-developer/exchange-web-services/ews-throttling-in-exchange):

- EWSMaxConcurrency: requests of one caller in flight at once (27 in Exchange Online,
  10 on-premises by default). One more is refused with ErrorExceededConnectionCount
  ("more concurrent requests against the server than are allowed by a user's policy",
  https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/responsecode).
- EWSMaxBurst / EWSRechargeRate: a budget of server time in milliseconds (a token
  bucket): every request spends what it cost; once the balance is below zero the
  caller gets ErrorServerBusy with BackOffMilliseconds, the time its budget needs to
  recharge. A request is let through while the balance is positive and charged after,
  so the balance can go below zero (as Exchange's).
- MimeContent costs what it costs: converting MIME takes time in proportion to its
  size (``mime_ms_per_mb``, scaled small for tests), spent while the request is in
  flight and charged to the budget.

And per mailbox (the store's concurrency control): one SyncFolderItems of a mailbox at
a time; a second one meanwhile is answered ErrorServerBusy. For the server as a
whole, more requests in flight than ``max_requests`` get HTTP 503 Service Unavailable
with a Retry-After header, as an overloaded front end answers (RFC 7231, 6.6.4, 7.1.3).

The defaults are Exchange Online's policy (nothing a test reaches by accident); a
test sets smaller values through ``EwsServer.throttle`` and ``reset()`` puts them back.
"""
import contextlib
import math
import threading
import time

DEFAULTS = {
    'max_concurrency': 27,          # EWSMaxConcurrency
    'max_burst_ms': 300000,         # EWSMaxBurst
    'recharge_ms_per_hour': 900000,  # EWSRechargeRate
    'request_ms': 10,               # what a request costs besides its MIME
    'mime_ms_per_mb': 10,           # MIME conversion time per MB (Exchange: far more)
    'sync_back_off_ms': 1000,       # back-off asked for a second SyncFolderItems of a mailbox
    'max_requests': 200,            # the server's requests in flight before HTTP 503
    'retry_after_s': 5,             # the Retry-After of a 503
}


class Busy(Exception):
    """A refusal: ``code`` (an EWS response code, or 'http_503'), and the back-off."""

    def __init__(self, code, back_off_ms=None):
        super(Busy, self).__init__(code, back_off_ms)
        self.code = code
        self.back_off_ms = back_off_ms


class Throttle(object):

    def __init__(self):
        self._lock = threading.Lock()
        self._gate = threading.Event()  # admitted requests go on while it is set (see hold)
        self._gate.set()
        self.reset()

    def reset(self, **policy):
        """Exchange Online's policy, changed by ``policy``; every budget full again."""
        unknown = set(policy) - set(DEFAULTS)
        if unknown:
            raise ValueError('unknown throttling settings: %s' % ', '.join(sorted(unknown)))
        with self._lock:
            for name, value in dict(DEFAULTS, **policy).items():
                setattr(self, name, value)
            self._in_flight = {}    # caller -> requests in flight
            self._balance = {}      # caller -> (budget in ms, when it was last computed)
            self._syncing = set()   # mailboxes with a SyncFolderItems in flight
            self._requests = 0
            self.refusals = []      # (caller, code, back-off ms) of every refusal, for tests

    # -- what tests read and do -----------------------------------------------
    @contextlib.contextmanager
    def hold(self):
        """Requests admitted meanwhile wait (in flight, up to a minute) until the block
        ends: concurrency made exact for a test, not timed."""
        self._gate.clear()
        try:
            yield
        finally:
            self._gate.set()

    def in_flight(self, caller):
        with self._lock:
            return self._in_flight.get(caller, 0)

    def balance_ms(self, caller):
        with self._lock:
            return self._recharged(caller)

    # -- the server's side --------------------------------------------------
    @contextlib.contextmanager
    def server_slot(self):
        """One request of the whole server; Busy('http_503') when it is overloaded."""
        with self._lock:
            if self._requests >= self.max_requests:
                self.refusals.append((None, 'http_503', self.retry_after_s * 1000))
                raise Busy('http_503', self.retry_after_s * 1000)
            self._requests += 1
        try:
            yield
        finally:
            with self._lock:
                self._requests -= 1

    @contextlib.contextmanager
    def request(self, caller, mailbox, operation):
        """Admit one EWS request of ``caller`` on ``mailbox`` or raise Busy; yields a
        function that charges extra milliseconds (MIME) to the caller's budget."""
        with self._lock:
            code, back_off = self._refusal(caller, mailbox, operation)
            if code:
                self.refusals.append((caller, code, back_off))
                raise Busy(code, back_off)
            self._in_flight[caller] = self._in_flight.get(caller, 0) + 1
            if operation == 'SyncFolderItems':
                self._syncing.add(mailbox)
        spent = [self.request_ms]
        try:
            self._gate.wait(60)
            yield lambda ms: spent.__setitem__(0, spent[0] + ms)
        finally:
            with self._lock:
                self._in_flight[caller] -= 1
                if operation == 'SyncFolderItems':
                    self._syncing.discard(mailbox)
                self._balance[caller] = (self._recharged(caller) - spent[0], time.monotonic())

    def spend_mime(self, charge, size):
        """Take the time converting ``size`` bytes of MIME takes (outside any lock) and
        charge it."""
        ms = self.mime_ms_per_mb * size / 1048576.0
        if ms > 0:
            time.sleep(ms / 1000.0)
            charge(ms)

    def _refusal(self, caller, mailbox, operation):
        if self._in_flight.get(caller, 0) >= self.max_concurrency:
            return 'ErrorExceededConnectionCount', None
        balance = self._recharged(caller)
        if balance < 0:
            return 'ErrorServerBusy', int(math.ceil(-balance / self._rate_per_ms()))
        if operation == 'SyncFolderItems' and mailbox in self._syncing:
            return 'ErrorServerBusy', self.sync_back_off_ms
        return None, None

    def _rate_per_ms(self):
        return self.recharge_ms_per_hour / 3600000.0

    def _recharged(self, caller):
        balance, since = self._balance.get(caller, (self.max_burst_ms, None))
        if since is not None:
            balance = min(self.max_burst_ms, balance + (time.monotonic() - since) * 1000 * self._rate_per_ms())
        return balance
