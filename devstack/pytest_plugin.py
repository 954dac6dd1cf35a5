"""pytest fixtures that start the real servers the tests talk to (loopback only)."""
import os
import shutil
import socket
import tempfile
import xmlrpc.client

import pytest

try:  # pytest-odoo uses odoo.tests without importing it
    import odoo.tests  # noqa: F401
except ImportError:  # pragma: no cover
    pass

from .dovecot import Dovecot
from .odoo import serve
from .procs import TEST_DIR, free_port, stop_pid, wait_port
from .smtpd import SmtpServer



POOL_SIZE = 1000  # the suite uses about 430 (each kill point a fresh mailbox)
UTF8_ACCOUNT = ('utf8@example.test', 'p\u00e4ssw\u00f6rd-\u00df')


class MailServers(object):
    """Dovecot plus an SMTP server sharing one account table.

    Accounts come from a pool written before Dovecot starts: Dovecot notices a
    changed passwd-file only at one-second resolution, so accounts added while it
    runs may be refused for a moment.
    """

    def __init__(self, dovecot, smtp):
        self.dovecot = dovecot
        self.smtp = smtp
        self.cafile = dovecot.cafile
        self._next = 0

    @staticmethod
    def pool():
        users = {'acct%d@example.test' % n: 'pw-%d-secret' % n for n in range(POOL_SIZE)}
        users[UTF8_ACCOUNT[0]] = UTF8_ACCOUNT[1]
        return users

    def new_account(self):
        """A fresh account (login is an email address) with its own empty mailbox."""
        login = 'acct%d@example.test' % self._next
        self._next += 1
        assert self._next < POOL_SIZE, 'test account pool exhausted'
        return login, self.dovecot.users[login]


@pytest.fixture(scope='session')
def mail_servers(oauth_server):
    folder = os.path.join(TEST_DIR, 'dovecot')
    shutil.rmtree(folder, ignore_errors=True)
    oauth = dovecot_oauth(oauth_server)  # Dovecot and SMTP also take OAuth bearer tokens
    dovecot = Dovecot(folder, users=MailServers.pool(), certs_dir=os.path.join(TEST_DIR, 'tls'),
                      oauth=oauth).start()
    smtp = SmtpServer(dovecot.users, dovecot.ports['lmtp'], dovecot.certs,
                      introspector=Introspector.for_server(oauth_server, 'smtp')).start()
    try:
        yield MailServers(dovecot, smtp)
    finally:
        smtp.stop()
        dovecot.stop()


@pytest.fixture(scope='session')
def silent_port():
    """A port that accepts TCP connections but never says a word (for timeouts)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(('127.0.0.1', 0))
    sock.listen(50)
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


@pytest.fixture(scope='class')
def servers_on_class(request, mail_servers, silent_port):
    """For unittest-style (Odoo) test classes: ``self.servers`` and ``self.silent_port``."""
    request.cls.servers = mail_servers
    request.cls.silent_port = silent_port


class OdooHttp(object):
    def __init__(self, url, db):
        self.url = url
        self.db = db

    def rpc(self, login, password, model, method, *args, **kwargs):
        common = xmlrpc.client.ServerProxy(self.url + '/xmlrpc/2/common', allow_none=True)
        uid = common.authenticate(self.db, login, password, {})
        assert uid, 'login %s refused' % login
        models = xmlrpc.client.ServerProxy(self.url + '/xmlrpc/2/object', allow_none=True)
        return models.execute_kw(self.db, uid, password, model, method, list(args), kwargs)


@pytest.fixture(scope='session')
def odoo_http():
    """A real Odoo HTTP server on the test database, in its own process."""
    conf, db = os.environ['MAIL_SYNC_TEST_CONF'], os.environ['MAIL_SYNC_TEST_DB']
    port = free_port()
    log = os.path.join(TEST_DIR, 'http.log')
    # No job runner here (--load without queue_job): tests drive cycles themselves; the job
    # tests start servers of their own with it.
    proc = serve(conf, db, port, log, extra_args=['--max-cron-threads', '0', '--load', 'web'])
    try:
        wait_port(port, timeout=60, proc=proc, what='Odoo HTTP', log=log)
        yield OdooHttp('http://127.0.0.1:%d' % port, db)
    finally:
        stop_pid(proc)


@pytest.fixture(scope='session')
def browser():
    """Headless Chromium driven by chromedriver (Debian packages), fresh profile."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    profile = tempfile.mkdtemp(prefix='chromium-', dir=TEST_DIR)
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which('chromium') or '/usr/bin/chromium'
    for arg in ('--headless=new', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage',
                '--disable-background-networking', '--disable-component-update', '--disable-sync',
                '--no-first-run', '--disable-quic', '--window-size=1400,1000',
                '--user-data-dir=%s' % profile):
        options.add_argument(arg)
    service = Service(shutil.which('chromedriver') or '/usr/bin/chromedriver',
                      log_output=os.path.join(TEST_DIR, 'chromedriver.log'))
    driver = webdriver.Chrome(service=service, options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
from .ews.pytest_fixtures import ews_server  # noqa: F401,E402
from .graph.pytest_fixtures import graph_server, graph_no_bugs  # noqa: F401,E402
from .oauth.pytest_fixtures import dovecot_oauth, oauth_server  # noqa: F401,E402
from .oauth.introspect import Introspector  # noqa: E402


@pytest.fixture(scope='session', autouse=True)
def savepoint_commit_funnel():
    """In-process tests: mail_sync's commit points move a savepoint (transaction_harness.py)."""
    try:
        from .transaction_harness import install
        uninstall = install()
    except ImportError:  # no Odoo here (the engine's own tests)
        yield
        return
    try:
        yield
    finally:
        uninstall()
