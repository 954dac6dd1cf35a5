"""Opaque sync states: what a client has seen of one folder, signed by this server.

Like Exchange's (a compressed blob), a state lists the items the client knows
(by their creation number) and the change number it has seen up to, so that
paging is exact: an item the client never got is a Create, however often it
changed meanwhile. The signature (HMAC with a secret of this server instance)
makes a state that was tampered with, comes from another server run, or belongs
to another folder invalid: ErrorInvalidSyncStateData.
"""
import base64
import binascii
import hashlib
import hmac
import json
import os
import zlib

from .store import StoreError

_SECRET = os.urandom(16)


def _sign(data):
    return hmac.new(_SECRET, data, hashlib.sha256).digest()[:12]


def encode(folder_id, seq, known, sent=()):
    """``sent``: change numbers above ``seq`` already sent in earlier pages of an
    unfinished newest-first run (see operations/sync.py)."""
    data = zlib.compress(json.dumps([folder_id, seq, sorted(known), sorted(sent)]).encode('utf-8'))
    return base64.b64encode(_sign(data) + data).decode('ascii')


def decode(state, folder_id):
    """(change number, set of known creation numbers, set of change numbers already sent
    above it); (0, empty, empty) for a first sync."""
    if not state or not state.strip():
        return 0, set(), set()
    try:
        raw = base64.b64decode(state.strip(), validate=True)
        signature, data = raw[:12], raw[12:]
        if hmac.compare_digest(signature, _sign(data)):
            state_folder, seq, known, sent = json.loads(zlib.decompress(data).decode('utf-8'))
            if state_folder == folder_id:
                return int(seq), set(known), set(sent)
    except (binascii.Error, zlib.error, ValueError, TypeError):
        pass
    raise StoreError('ErrorInvalidSyncStateData',
                     'Synchronization state data is corrupt or otherwise invalid.')
