"""Time the connection tests behind Test & Enable against a local Dovecot and SMTP server.

Prints the median and 95th percentile per protocol and encryption (20 runs each),
plus the time a wrong password takes to be reported. Not a test: no asserts.
"""
import os
import shutil
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from devstack.dovecot import Dovecot  # noqa: E402
from devstack.smtpd import SmtpServer  # noqa: E402
from sync.endpoint import Credentials, Endpoint  # noqa: E402
from sync.errors import AuthError  # noqa: E402
from sync.imap import ImapConnector  # noqa: E402
from sync.pop3 import Pop3Connector  # noqa: E402
from sync.smtp import SmtpConnector  # noqa: E402

RUNS = 20


def timed(func):
    samples = []
    for _ in range(RUNS):
        start = time.perf_counter()
        func()
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(0.95 * (len(samples) - 1))]


def main():
    folder = tempfile.mkdtemp(prefix='bench-', dir=os.path.join(os.path.dirname(__file__), '..', '.build'))
    dovecot = Dovecot(folder, users={'bench@example.test': 'bench-pw'}).start()
    smtp = SmtpServer(dovecot.users, dovecot.ports['lmtp'], dovecot.certs).start()
    creds = Credentials('bench@example.test', 'bench-pw')
    try:
        for n in range(50):
            dovecot.append('bench@example.test', b'Subject: %d\r\n\r\nbody\r\n' % n)
        cases = [
            ('IMAP', 'none', ImapConnector, dovecot.ports['imap']),
            ('IMAP', 'starttls', ImapConnector, dovecot.ports['imap']),
            ('IMAP', 'ssl', ImapConnector, dovecot.ports['imaps']),
            ('POP3', 'none', Pop3Connector, dovecot.ports['pop3']),
            ('POP3', 'ssl', Pop3Connector, dovecot.ports['pop3s']),
            ('SMTP', 'starttls', SmtpConnector, smtp.port),
            ('SMTP', 'ssl', SmtpConnector, smtp.ssl_port),
        ]
        print('| Check | Encryption | median ms | p95 ms |')
        print('|---|---|---|---|')
        for name, encryption, cls, port in cases:
            endpoint = Endpoint('localhost', port, encryption, 10, True, dovecot.cafile)
            median, p95 = timed(lambda: cls(endpoint, creds).check())
            print('| %s | %s | %.1f | %.1f |' % (name, encryption, median, p95))
        endpoint = Endpoint('localhost', dovecot.ports['imap'], 'none', 10)

        def wrong():
            try:
                ImapConnector(endpoint, Credentials('bench@example.test', 'wrong')).check()
            except AuthError:
                return
            raise RuntimeError('wrong password accepted')
        median, p95 = timed(wrong)
        print('| IMAP wrong password reported | none | %.1f | %.1f |' % (median, p95))
    finally:
        smtp.stop()
        dovecot.stop()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == '__main__':
    main()
