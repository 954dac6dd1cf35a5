"""The IMAP, POP3 and SMTP connectors against the real Dovecot and SMTP servers."""
import os
import subprocess
import sys

import pytest

from ..endpoint import Credentials, Endpoint
from ..errors import AuthError, ConfigError, TransientError
from ..imap import ImapConnector
from ..pop3 import Pop3Connector
from ..smtp import SmtpConnector

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture
def account(mail_servers):
    login, password = mail_servers.new_account()
    mail_servers.dovecot.append(login, b'From: a@example.test\r\nSubject: one\r\n'
                                       b'Message-ID: <one@example.test>\r\n\r\nHello\r\n')
    return Credentials(login, password)


def _endpoint(servers, port_name, encryption, cafile=True, timeout=5, host='localhost'):
    ports = {'smtp': servers.smtp.port, 'smtps': servers.smtp.ssl_port}
    ports.update(servers.dovecot.ports)
    return Endpoint(host, ports[port_name], encryption, timeout, True,
                    servers.cafile if cafile else None)


@pytest.mark.parametrize('port_name,encryption', [('imap', 'none'), ('imaps', 'ssl'), ('imap', 'starttls')])
def test_imap_check_succeeds(mail_servers, account, port_name, encryption):
    result = ImapConnector(_endpoint(mail_servers, port_name, encryption), account).check()
    assert result['messages'] == 1


@pytest.mark.parametrize('port_name,encryption', [('pop3', 'none'), ('pop3s', 'ssl'), ('pop3', 'starttls')])
def test_pop3_check_succeeds(mail_servers, account, port_name, encryption):
    result = Pop3Connector(_endpoint(mail_servers, port_name, encryption), account).check()
    assert result['messages'] == 1 and result['size'] > 0


@pytest.mark.parametrize('port_name,encryption', [('smtp', 'none'), ('smtps', 'ssl'), ('smtp', 'starttls')])
def test_smtp_check_succeeds(mail_servers, account, port_name, encryption):
    result = SmtpConnector(_endpoint(mail_servers, port_name, encryption), account).check()
    assert 'auth' in result['extensions']


CONNECTORS = [(ImapConnector, 'imap'), (Pop3Connector, 'pop3'), (SmtpConnector, 'smtp')]
SECURE = [(ImapConnector, 'imaps'), (Pop3Connector, 'pop3s'), (SmtpConnector, 'smtps')]


@pytest.mark.parametrize('cls,port_name', CONNECTORS)
def test_wrong_password_is_an_auth_error(mail_servers, account, cls, port_name):
    wrong = Credentials(account.login, 'not-the-password')
    with pytest.raises(AuthError) as info:
        cls(_endpoint(mail_servers, port_name, 'none'), wrong).check()
    assert info.value.code == 'auth_failed' and not info.value.transient
    assert 'not-the-password' not in str(info.value)


@pytest.mark.parametrize('cls,port_name', CONNECTORS)
def test_closed_port_is_transient(account, cls, port_name):
    from devstack.procs import free_port
    endpoint = Endpoint('127.0.0.1', free_port(), 'none', 5)
    with pytest.raises(TransientError) as info:
        cls(endpoint, account).check()
    assert info.value.code == 'connection_refused'


@pytest.mark.parametrize('cls,port_name', SECURE)
def test_untrusted_certificate_is_refused(mail_servers, account, cls, port_name):
    with pytest.raises(ConfigError) as info:
        cls(_endpoint(mail_servers, port_name, 'ssl', cafile=False), account).check()
    assert info.value.code == 'tls_untrusted'


@pytest.mark.parametrize('cls,port_name', SECURE)
def test_verification_off_accepts_any_certificate(mail_servers, account, cls, port_name):
    endpoint = _endpoint(mail_servers, port_name, 'ssl', cafile=False)
    endpoint.verify_tls = False
    assert cls(endpoint, account).check()


def test_starttls_with_untrusted_certificate_is_refused(mail_servers, account):
    with pytest.raises(ConfigError) as info:
        ImapConnector(_endpoint(mail_servers, 'imap', 'starttls', cafile=False), account).check()
    assert info.value.code == 'tls_untrusted'


def test_ssl_on_a_plain_port_says_tls_failed(mail_servers, account):
    with pytest.raises(ConfigError) as info:
        ImapConnector(_endpoint(mail_servers, 'imap', 'ssl'), account).check()
    assert info.value.code == 'tls_failed'


@pytest.mark.parametrize('cls,port_name', CONNECTORS)
def test_silent_server_times_out(silent_port, account, cls, port_name):
    endpoint = Endpoint('127.0.0.1', silent_port, 'none', timeout=1)
    with pytest.raises(TransientError) as info:
        cls(endpoint, account).check()
    assert info.value.code in ('timeout', 'connection_lost')


def test_unknown_host_is_a_config_error(account):
    with pytest.raises(ConfigError) as info:
        ImapConnector(Endpoint('no-such-host.invalid', 993, 'ssl', 5), account).check()
    assert info.value.code == 'unknown_host'


def test_non_ascii_password_logs_in_over_imap(mail_servers):
    from devstack.pytest_plugin import UTF8_ACCOUNT
    login, password = UTF8_ACCOUNT
    assert any(ord(char) > 127 for char in password)
    result = ImapConnector(_endpoint(mail_servers, 'imap', 'none'), Credentials(login, password)).check()
    assert result['messages'] == 0


def test_credentials_never_show_the_password():
    creds = Credentials('jane@example.test', 'hunter22')
    assert 'hunter22' not in repr(creds) and 'hunter22' not in str(creds)
    with pytest.raises(ConfigError):
        Credentials('jane@example.test', '')


def test_sync_package_never_imports_odoo():
    code = ("import sys; sys.modules['odoo'] = None; sys.path.insert(0, %r)\n"
            "import sync.imap, sync.pop3, sync.smtp, sync.ews, sync.secretbox, sync.errors, sync.fake\n"
            "print('ok')" % ROOT)
    out = subprocess.run([sys.executable, '-c', code], stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, universal_newlines=True)
    assert out.returncode == 0 and out.stdout.strip().endswith('ok'), out.stdout
