"""IMAP connector (imaplib with timeouts, TLS and our error mapping).

Round trips are what an idle mailbox costs, so the session is lean: capabilities
come from the greeting when the server announces them there, and with SASL-IR the
login and the STATUS of every synced folder go out in one write, answered in one
round trip. The final LOGOUT is sent without waiting for the goodbye.
"""
import base64
import imaplib
import re
import socket
import time

from .connector import Connector
from .endpoint import _text, auth_error, map_network_error
from .errors import AuthError, ConfigError, PermanentError, TransientError
from .message import RemoteMessage
from .oauth import BearerToken, sasl_error

_FETCH_META = re.compile(rb'UID (\d+)|RFC822\.SIZE (\d+)|INTERNALDATE "([^"]+)"')
_CAPABILITY = re.compile(r'\[CAPABILITY ([^\]]*)\]', re.I)
_STATUS = re.compile(rb'^(?:"((?:[^"\\]|\\.)*)"|(\S+)) \((.*)\)\s*$')
_LIST = re.compile(rb'^\(([^)]*)\) (?:"[^"]*"|NIL) (?:"((?:[^"\\]|\\.)*)"|(\S+))$')
SENT_NAMES = ('Sent', 'Sent Items', 'Sent Messages', 'Sent Mail', 'INBOX.Sent')
FETCH_BYTES = 16 * 1024 * 1024  # one FETCH asks for at most this much message data


class _Session(object):
    """imaplib additions: socket timeout (Python 3.7 has no argument for it) and
    capabilities read from the greeting instead of a CAPABILITY round trip."""

    def _setup(self, timeout):
        self._sync_timeout = timeout
        self._greeting_read = False

    def _create_socket(self):
        sock = socket.create_connection((self.host, self.port), self._sync_timeout)
        # imaplib writes a literal and its closing CRLF separately: without this, Nagle's
        # algorithm holds the CRLF until the server's delayed ACK, ~40 ms per APPEND.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    def _get_capabilities(self):
        if not self._greeting_read:
            self._greeting_read = True
            found = _CAPABILITY.search(self.welcome.decode('ascii', 'replace'))
            if found:
                self.capabilities = tuple(found.group(1).upper().split())
                return
        imaplib.IMAP4._get_capabilities(self)

    def learn_capabilities(self, response):
        """Adopt the capabilities a tagged OK announces (servers send the post-login set)."""
        text = b' '.join(part for part in response if isinstance(part, bytes))
        found = _CAPABILITY.search(text.decode('ascii', 'replace'))
        if found:
            self.capabilities = tuple(found.group(1).upper().split())


class _IMAP4(_Session, imaplib.IMAP4):
    def __init__(self, host, port, timeout):
        self._setup(timeout)
        imaplib.IMAP4.__init__(self, host, port)


class _IMAP4_SSL(_Session, imaplib.IMAP4_SSL):
    def __init__(self, host, port, timeout, ssl_context):
        self._setup(timeout)
        imaplib.IMAP4_SSL.__init__(self, host, port, ssl_context=ssl_context)

    def _create_socket(self):
        sock = _Session._create_socket(self)
        return self.ssl_context.wrap_socket(sock, server_hostname=self.host)


class FolderState(object):
    """What EXAMINE or STATUS says about a folder: UIDVALIDITY names the generation
    of its UIDs, UIDNEXT moves when mail arrives."""

    def __init__(self, name, exists=None, uidvalidity=None, uidnext=None, highestmodseq=None):
        self.name = name
        self.exists = exists
        self.uidvalidity = uidvalidity
        self.uidnext = uidnext
        self.highestmodseq = highestmodseq

    def __repr__(self):
        return '<FolderState %s uidvalidity=%s uidnext=%s>' % (self.name, self.uidvalidity, self.uidnext)


class RemoteSize(object):
    """A message listed before fetching: its UID and size decide how it is fetched."""

    def __init__(self, uid, size, internal_date=None):
        self.uid = uid
        self.size = size
        self.internal_date = internal_date


def _quote(folder):
    if re.match(r'^[A-Za-z0-9._/-]+$', folder):
        return folder
    return '"%s"' % folder.replace('\\', '\\\\').replace('"', '\\"')


def _unquote(quoted, atom):
    if quoted is not None:
        return re.sub(rb'\\(.)', rb'\1', quoted).decode('utf-8', 'replace')
    return atom.decode('utf-8', 'replace')


def uid_set(uids):
    """A compact IMAP sequence set: [1, 2, 3, 7] -> '1:3,7'."""
    parts, run = [], []
    for uid in sorted(uids):
        if run and uid == run[-1] + 1:
            run.append(uid)
            continue
        if run:
            parts.append(str(run[0]) if len(run) == 1 else '%d:%d' % (run[0], run[-1]))
        run = [uid]
    if run:
        parts.append(str(run[0]) if len(run) == 1 else '%d:%d' % (run[0], run[-1]))
    return ','.join(parts)


def size_batches(items, limit_bytes=FETCH_BYTES, limit_count=50, weight=None):
    """Split listed messages into FETCH batches bounded in bytes (``weight`` of an item,
    its size by default) and in count; order is kept."""
    weight = weight or (lambda item: item.size)
    batch, total = [], 0
    for item in items:
        if batch and (total + weight(item) > limit_bytes or len(batch) >= limit_count):
            yield batch
            batch, total = [], 0
        batch.append(item)
        total += weight(item)
    if batch:
        yield batch


class ImapConnector(Connector):
    protocol = 'imap'

    def connect(self):
        """Open, secure and authenticate a session; return the imaplib client."""
        return self._open()[0]

    def _open(self, pipelined=()):
        """Connect and log in; ``pipelined`` (name, arguments) commands ride in the login's
        write when the server allows it. Returns the client and those commands' tags."""
        ep = self.endpoint
        try:
            if ep.encryption == 'ssl':
                client = _IMAP4_SSL(ep.host, ep.port, ep.timeout, ep.tls_context())
            else:
                client = _IMAP4(ep.host, ep.port, ep.timeout)
            self.client = client
            if ep.encryption == 'starttls':
                if 'STARTTLS' not in client.capabilities:
                    raise ConfigError('starttls_unsupported', '%s:%s' % (ep.host, ep.port))
                client.starttls(ep.tls_context())
            tags = self._login(client, pipelined)
        except Exception as exc:
            self.close()
            raise self._map(exc)
        return client, tags

    def _login(self, client, pipelined=()):
        creds = self.credentials
        caps = client.capabilities
        if isinstance(creds, BearerToken):
            return self._login_bearer(client, pipelined)
        try:
            if 'AUTH=PLAIN' in caps:
                # AUTHENTICATE PLAIN sends UTF-8, so non-ASCII passwords work (LOGIN is ASCII only).
                token = b'\0' + creds.login.encode('utf-8') + b'\0' + creds.password.encode('utf-8')
                if 'SASL-IR' in caps:
                    initial = 'PLAIN ' + base64.b64encode(token).decode('ascii')
                    tags = _send(client, [('AUTHENTICATE', initial)] + list(pipelined))
                    typ, data = client._command_complete('AUTHENTICATE', tags[0])
                    if typ != 'OK':
                        raise imaplib.IMAP4.error(data[-1])
                    client.state = 'AUTH'
                    client.learn_capabilities(data)
                    return tags[1:]
                typ, data = client.authenticate('PLAIN', lambda _challenge: token)
            else:
                typ, data = client.login(creds.login, creds.password)
        except imaplib.IMAP4.error as exc:
            raise auth_error(exc.args[0] if exc.args else exc)
        client.learn_capabilities(data)
        return _send(client, pipelined) if pipelined else []

    def _login_bearer(self, client, pipelined=()):
        """AUTHENTICATE XOAUTH2 or OAUTHBEARER; a refused token is renewed once."""
        creds = self.credentials
        ep = self.endpoint
        if 'AUTH=%s' % creds.mechanism not in client.capabilities:
            raise ConfigError('oauth_mechanism_unsupported', '%s:%s %s' % (ep.host, ep.port, creds.mechanism))
        while True:
            said = []

            def answer(challenge, said=said):
                if said:  # the server's error challenge: the client answers empty (RFC 7628)
                    said.append(sasl_error(base64.b64encode(challenge)))
                    return b''
                said.append('')
                return base64.b64decode(creds.sasl(ep.host, ep.port))
            try:
                typ, data = client.authenticate(creds.mechanism, answer)
            except imaplib.IMAP4.error as exc:
                if creds.renew():
                    continue
                raise AuthError('oauth_token_refused', '%s %s' % (
                    _text(exc.args[0] if exc.args else exc), said[-1] if said else ''))
            client.learn_capabilities(data)
            return _send(client, pipelined) if pipelined else []

    def check(self):
        """Connection test: login, capabilities and INBOX. Returns a summary."""
        client = self.connect()
        try:
            typ, data = client.select('INBOX', readonly=True)
            if typ != 'OK':
                raise PermanentError('folder_missing', 'INBOX: %s' % _text(data))
            count = int(data[0])
            caps = sorted(c for c in client.capabilities if c in ('IDLE', 'CONDSTORE', 'QRESYNC', 'UIDPLUS'))
            return {'messages': count, 'capabilities': caps}
        except Exception as exc:
            raise self._map(exc)
        finally:
            self.close()

    @property
    def capabilities(self):
        return self.client.capabilities if self.client else ()

    def status(self, folders):
        """UIDVALIDITY and UIDNEXT of ``folders`` by name, None for a folder that does not
        exist. Without a session, the login carries the STATUS commands: an idle mailbox
        costs one round trip. (UIDNEXT tells new mail on every server; CONDSTORE's
        HIGHESTMODSEQ would also move with flag changes, which sync does not mirror.)"""
        items = 'UIDVALIDITY UIDNEXT'
        commands = [('STATUS', '%s (%s)' % (_quote(folder), items)) for folder in folders]
        if self.client is None:
            client, tags = self._open(commands)
        else:
            client = self.client
            tags = _send(client, commands)
        try:
            client.untagged_responses.pop('STATUS', None)
            found = {}
            for folder, tag in zip(folders, tags):
                typ, data = client._command_complete('STATUS', tag)
                if typ != 'OK':
                    found[folder] = None
            for line in client.untagged_responses.pop('STATUS', []):
                match = _STATUS.match(line if isinstance(line, bytes) else b'')
                if not match:
                    continue
                name = _unquote(match.group(1), match.group(2))
                values = dict(zip(*[iter(match.group(3).split())] * 2))
                state = FolderState(name)
                for key in ('UIDVALIDITY', 'UIDNEXT', 'HIGHESTMODSEQ'):
                    if key.encode() in values:
                        setattr(state, key.lower(), int(values[key.encode()]))
                for folder in folders:
                    if folder == name or folder.upper() == name.upper() == 'INBOX':
                        found.setdefault(folder, state)
            return {folder: found.get(folder) for folder in folders}
        except Exception as exc:
            raise self._map(exc)

    def select_folder(self, folder='INBOX'):
        """EXAMINE a folder (read-only: flags never change); return its state."""
        client = self.client or self.connect()
        try:
            typ, data = client.select(_quote(folder), readonly=True)
            if typ != 'OK':
                raise PermanentError('folder_missing', '%s: %s' % (folder, _text(data)))
            state = FolderState(folder, int(data[0] or 0))
            for name in ('UIDVALIDITY', 'UIDNEXT', 'HIGHESTMODSEQ'):
                value = client.untagged_responses.get(name)
                if value and value[0]:
                    setattr(state, name.lower(), int(value[0]))
            if state.uidvalidity is None:
                raise PermanentError('protocol', '%s: no UIDVALIDITY' % folder)
            return state
        except Exception as exc:
            raise self._map(exc)

    def search_uids(self, after_uid=0, since=None):
        """UIDs above ``after_uid`` in the selected folder, received on or after ``since``."""
        criteria = ['UID', '%d:*' % (after_uid + 1)]
        if since is not None:
            criteria += ['SINCE', since.strftime('%d-%b-%Y')]
        try:
            typ, data = self.client.uid('SEARCH', *criteria)
            if typ != 'OK':
                raise PermanentError('protocol', 'SEARCH: %s' % _text(data))
            # "n:*" always matches the highest UID, even when it is below n.
            return sorted(uid for uid in map(int, (data[0] or b'').split()) if uid > after_uid)
        except Exception as exc:
            raise self._map(exc)

    def list_new(self, after_uid=0, since=None):
        """RemoteSizes of the messages above ``after_uid`` in the selected folder (received on
        or after ``since``), in UID order: sizes are known before any body is fetched."""
        if since is not None:
            uids = self.search_uids(after_uid, since)
            if not uids:
                return []
            spec = uid_set(uids)
        else:
            spec = '%d:*' % (after_uid + 1)
        try:
            typ, data = self.client.uid('FETCH', spec, '(UID RFC822.SIZE INTERNALDATE)')
        except Exception as exc:
            raise self._map(exc)
        if typ != 'OK':
            raise PermanentError('protocol', 'FETCH: %s' % _text(data))
        listed = []
        for line in data:
            meta = _meta(line if isinstance(line, bytes) else b'')
            if meta.get('uid', 0) > after_uid and 'size' in meta:
                listed.append(RemoteSize(meta['uid'], meta['size'], meta.get('date')))
        return sorted(listed, key=lambda item: item.uid)

    def fetch(self, uids, folder='INBOX', batch=50):
        """Yield RemoteMessages with their full bytes (BODY.PEEK[]: the \\Seen flag is left alone)."""
        uids = list(uids)
        for start in range(0, len(uids), batch):
            for item, body in self._fetch(uids[start:start + batch], 'BODY.PEEK[]'):
                yield RemoteMessage(body, uid=item['uid'], folder=folder, size=item.get('size'),
                                    internal_date=item.get('date'))

    def fetch_header(self, uid, folder='INBOX'):
        """The header block only, for a message too large to fetch whole."""
        for item, body in self._fetch([uid], 'BODY.PEEK[HEADER]'):
            return RemoteMessage(body, uid=item['uid'], folder=folder, size=item.get('size'),
                                 internal_date=item.get('date'), truncated=True)
        return None

    def _fetch(self, uids, part):
        try:
            typ, data = self.client.uid('FETCH', uid_set(uids), '(UID RFC822.SIZE INTERNALDATE %s)' % part)
        except Exception as exc:
            raise self._map(exc)
        if typ != 'OK':
            raise PermanentError('protocol', 'FETCH: %s' % _text(data))
        for item in data:
            if isinstance(item, tuple):
                meta = _meta(item[0])
                if meta.get('uid'):
                    yield meta, item[1]

    def find_sent_folder(self):
        """The Sent folder's name: the \\Sent special-use folder, else a usual name."""
        client = self.client or self.connect()
        try:
            typ, data = client.list('""', '*')
        except Exception as exc:
            raise self._map(exc)
        names = {}
        for line in data if typ == 'OK' else []:
            match = _LIST.match(line if isinstance(line, bytes) else b'')
            if not match:
                continue
            name = _unquote(match.group(2), match.group(3))
            if b'\\sent' in match.group(1).lower().split():
                return name
            names[name.lower()] = name
        for candidate in SENT_NAMES:
            if candidate.lower() in names:
                return names[candidate.lower()]
        return None

    def append(self, folder, raw, flags='(\\Seen)'):
        """Store a message in ``folder`` (e.g. the copy of a sent email in Sent)."""
        client = self.client or self.connect()
        try:
            typ, data = client.append(_quote(folder), flags, imaplib.Time2Internaldate(time.time()), raw)
        except Exception as exc:
            raise self._map(exc)
        if typ != 'OK':
            raise PermanentError('protocol', 'APPEND: %s' % _text(data))

    def find_message_id(self, folder, message_id):
        """UIDs of the messages of ``folder`` with this Message-ID header."""
        client = self.client or self.connect()
        try:
            typ, data = client.select(_quote(folder), readonly=True)
            if typ != 'OK':
                return []
            typ, data = client.uid('SEARCH', 'HEADER', 'Message-ID', '"%s"' % message_id.replace('"', ''))
        except Exception as exc:
            raise self._map(exc)
        if typ != 'OK':
            raise PermanentError('protocol', 'SEARCH: %s' % _text(data))
        return [int(uid) for uid in (data[0] or b'').split()]

    def move(self, uids, source, target):
        """Move messages to ``target`` (created when missing). Without UIDPLUS the copies
        are flagged deleted but not expunged: a plain EXPUNGE would also remove what
        the user deleted and has not expunged yet."""
        client = self.client or self.connect()
        spec = uid_set(uids)
        try:
            typ, data = client.select(_quote(source))
            if typ != 'OK':
                raise PermanentError('folder_missing', '%s: %s' % (source, _text(data)))
            client.create(_quote(target))  # NO when it exists: fine
            if 'MOVE' in client.capabilities:
                typ, data = client.uid('MOVE', spec, _quote(target))
            else:
                typ, data = client.uid('COPY', spec, _quote(target))
                if typ == 'OK':
                    client.uid('STORE', spec, '+FLAGS.SILENT', '(\\Deleted)')
                    if 'UIDPLUS' in client.capabilities:
                        client.uid('EXPUNGE', spec)
            if typ != 'OK':
                raise PermanentError('protocol', 'MOVE: %s' % _text(data))
        except Exception as exc:
            raise self._map(exc)

    def _goodbye(self, client):
        # LOGOUT without waiting for the server's goodbye: nothing depends on it.
        client.send(client._new_tag() + b' LOGOUT\r\n')
        client.shutdown()

    def _drop(self, client):
        client.shutdown()

    def _map(self, exc):
        mapped = map_network_error(exc, self.endpoint)
        if mapped is not None:
            return mapped
        if isinstance(exc, imaplib.IMAP4.abort):
            return TransientError('connection_lost', _text(exc.args[0] if exc.args else exc))
        if isinstance(exc, imaplib.IMAP4.error):
            return PermanentError('protocol', _text(exc.args[0] if exc.args else exc))
        return exc


def _send(client, commands):
    """Send tagged commands in one write without waiting (IMAP allows pipelining);
    return their tags for ``_command_complete``."""
    if not commands:
        return []
    lines, tags = [], []
    for name, arguments in commands:
        tag = client._new_tag()
        client.tagged_commands[tag] = None
        lines.append(tag + b' ' + name.encode('ascii') + b' ' + arguments.encode('utf-8'))
        tags.append(tag)
    client.send(b'\r\n'.join(lines) + b'\r\n')
    return tags


def _meta(line):
    meta = {}
    for uid, size, date in _FETCH_META.findall(line):
        if uid:
            meta.setdefault('uid', int(uid))
        if size:
            meta['size'] = int(size)
        if date:
            meta['date'] = date.decode('ascii', 'replace')
    return meta
