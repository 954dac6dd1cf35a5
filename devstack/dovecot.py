"""A real Dovecot (IMAP, IMAPS, POP3, POP3S, LMTP) on loopback high ports."""
import imaplib
import os
import pwd
import shutil
import subprocess

from .certs import make_certs
from .procs import free_ports, stop_pid, wait_port

CONFIG = """\
base_dir = {dir}/run
state_dir = {dir}/state
log_path = {dir}/dovecot.log
info_log_path = {dir}/dovecot.log
{users_line}
protocols = imap pop3 lmtp
listen = 127.0.0.1
ssl = yes
ssl_cert = <{cert}
ssl_key = <{key}
disable_plaintext_auth = no
auth_mechanisms = plain login{oauth_mechanisms}
auth_cache_size = 0
auth_failure_delay = 0
login_trusted_networks = 127.0.0.0/8
mail_location = maildir:~/Maildir
pop3_uidl_format = %08Xu%08Xv
namespace inbox {{
  inbox = yes
  mailbox Sent {{
    special_use = \\Sent
    auto = subscribe
  }}
  mailbox Drafts {{
    special_use = \\Drafts
    auto = subscribe
  }}
  mailbox Trash {{
    special_use = \\Trash
    auto = subscribe
  }}
}}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {dir}/users
}}
{oauth_passdb}userdb {{
  driver = static
  args = uid={uid} gid={gid} home={dir}/mail/%u
}}
service imap-login {{
  inet_listener imap {{
    port = {imap}
  }}
  inet_listener imaps {{
    port = {imaps}
    ssl = yes
  }}
}}
service pop3-login {{
  inet_listener pop3 {{
    port = {pop3}
  }}
  inet_listener pop3s {{
    port = {pop3s}
    ssl = yes
  }}
}}
service lmtp {{
  inet_listener lmtp {{
    address = 127.0.0.1
    port = {lmtp}
  }}
}}
"""


# OAuth 2.0 (XOAUTH2 and OAUTHBEARER): Dovecot asks the authorization server to
# introspect each bearer token (RFC 7662) and requires the token's email to be the login.
OAUTH_PASSDB = """passdb {{
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = {dir}/dovecot-oauth2.conf.ext
}}
"""
OAUTH_CONFIG = """introspection_mode = post
introspection_url = {introspection_url}
username_attribute = email
active_attribute = active
active_value = true
force_introspection = yes
scope = {scope}
timeout_msecs = 10000
"""


class Dovecot(object):
    """One Dovecot instance in ``folder`` with the accounts of ``users`` (login -> password).

    ``oauth``: dict(introspection_url=..., scope=...) adds an ``oauth2`` passdb, so IMAP and
    POP3 accept XOAUTH2 and OAUTHBEARER with tokens the authorization server vouches for.
    """

    def __init__(self, folder, users=None, ports=None, certs_dir=None, oauth=None):
        self.oauth = oauth
        self.folder = os.path.abspath(folder)
        self.certs_dir = certs_dir or os.path.join(self.folder, 'tls')
        self.users = dict(users or {})
        names = ('imap', 'imaps', 'pop3', 'pop3s', 'lmtp')
        spare = iter(free_ports(len(names)))
        ports = ports or {}
        self.ports = {name: ports.get(name) or next(spare) for name in names}
        self.proc = None
        self.certs = None

    @property
    def cafile(self):
        return self.certs['ca']

    def start(self):
        for sub in ('run', 'state', 'mail'):
            os.makedirs(os.path.join(self.folder, sub), exist_ok=True)
        os.chmod(self.folder, 0o755)
        os.chmod(os.path.join(self.folder, 'mail'), 0o1777)
        self.certs = make_certs(self.certs_dir)
        self._write_users()
        if os.geteuid() == 0:
            uid, gid, users_line = 'nobody', 'nogroup', ''
        else:  # unprivileged developer: Dovecot runs every process as us
            me = pwd.getpwuid(os.geteuid()).pw_name
            uid, gid = me, os.getegid()
            users_line = 'default_internal_user = %s\ndefault_login_user = %s' % (me, me)
        conf = os.path.join(self.folder, 'dovecot.conf')
        oauth_passdb = oauth_mechanisms = ''
        if self.oauth:
            oauth_mechanisms = ' xoauth2 oauthbearer'
            oauth_passdb = OAUTH_PASSDB.format(dir=self.folder)
            path = os.path.join(self.folder, 'dovecot-oauth2.conf.ext')
            with open(path, 'w') as handle:
                handle.write(OAUTH_CONFIG.format(**self.oauth))
            os.chmod(path, 0o600)
        with open(conf, 'w') as handle:
            handle.write(CONFIG.format(dir=self.folder, cert=self.certs['cert'],
                                       key=self.certs['key'], uid=uid, gid=gid,
                                       users_line=users_line, oauth_passdb=oauth_passdb,
                                       oauth_mechanisms=oauth_mechanisms, **self.ports))
        log = os.path.join(self.folder, 'dovecot.log')
        self.proc = subprocess.Popen([_dovecot(), '-F', '-c', conf],
                                     stdout=subprocess.DEVNULL, stderr=open(log, 'ab'),
                                     start_new_session=True)  # Ctrl-C goes to our runner only
        for name in ('imap', 'pop3', 'lmtp'):
            wait_port(self.ports[name], proc=self.proc, what='Dovecot', log=log)
        return self

    def stop(self):
        stop_pid(self.proc)
        self.proc = None

    def _write_users(self):
        path = os.path.join(self.folder, 'users')
        tmp = path + '.tmp'
        with open(tmp, 'w') as handle:
            for login, password in sorted(self.users.items()):
                handle.write('%s:{PLAIN}%s::::::\n' % (login, password))
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)

    def imap(self, login):
        """A logged-in imaplib client for an account (plain IMAP on loopback)."""
        client = imaplib.IMAP4('127.0.0.1', self.ports['imap'])
        client.login(login, self.users[login])
        return client

    def append(self, login, raw, folder='INBOX', flags=''):
        """Deliver a raw message (bytes) into a folder, as Outlook or an MTA would."""
        self.append_many(login, [raw], folder, flags)

    def append_many(self, login, raws, folder='INBOX', flags=''):
        """Deliver several messages in one IMAP session."""
        client = self.imap(login)
        try:
            if folder != 'INBOX':
                client.create(folder)
            for raw in raws:
                typ, data = client.append(folder, flags, None, raw)
                assert typ == 'OK', data
        finally:
            client.logout()

    def wipe(self, login):
        """Remove an account's mail folder altogether."""
        shutil.rmtree(os.path.join(self.folder, 'mail', login), ignore_errors=True)


def _dovecot():
    for path in (shutil.which('dovecot'), '/usr/sbin/dovecot'):
        if path and os.path.exists(path):
            return path
    raise RuntimeError('dovecot not found (run scripts/setup.sh)')
