"""The server side of NTLM (MS-NLMP): CHALLENGE messages and NTLMv2 verification.

Only NTLMv2 responses are accepted (as on any current Windows domain). The
client's MIC and channel bindings are not checked: this endpoint is for tests,
and the NTProofStr already proves the password. MD4 comes from pyspnego
(a dependency of requests_ntlm) because OpenSSL 3 usually hides hashlib's md4.
"""
import hashlib
import hmac
import os
import struct
import time

from spnego._ntlm_raw.md4 import md4

SIGNATURE = b'NTLMSSP\x00'
NEGOTIATE_UNICODE = 0x00000001
REQUEST_TARGET = 0x00000004
NEGOTIATE_NTLM = 0x00000200
ALWAYS_SIGN = 0x00008000
TARGET_TYPE_DOMAIN = 0x00010000
EXTENDED_SESSIONSECURITY = 0x00080000
TARGET_INFO = 0x00800000
NEGOTIATE_VERSION = 0x02000000
ECHOED = 0x00000010 | 0x00000020 | 0x20000000 | 0x40000000 | 0x80000000  # sign, seal, 128, keyx, 56
DOMAIN = 'DEVSTACK'
COMPUTER = 'EWS'


class NtlmError(Exception):
    pass


def _field(data, offset):
    length, _max, start = struct.unpack_from('<HHI', data, offset)
    if start + length > len(data):
        raise NtlmError('field outside the message')
    return data[start:start + length]


def message_type(data):
    if len(data) < 12 or data[:8] != SIGNATURE:
        raise NtlmError('not an NTLM message')
    return struct.unpack_from('<I', data, 8)[0]


def _av_pairs():
    pairs = b''
    for av_id, text in ((2, DOMAIN), (1, COMPUTER), (4, DOMAIN.lower() + '.test'),
                        (3, COMPUTER.lower() + '.' + DOMAIN.lower() + '.test')):
        value = text.encode('utf-16-le')
        pairs += struct.pack('<HH', av_id, len(value)) + value
    filetime = int((time.time() + 11644473600) * 10000000)
    pairs += struct.pack('<HHQ', 7, 8, filetime)
    return pairs + struct.pack('<HH', 0, 0)


def challenge(negotiate):
    """(CHALLENGE message bytes, server challenge) answering a NEGOTIATE message."""
    if message_type(negotiate) != 1:
        raise NtlmError('expected NEGOTIATE')
    client_flags = struct.unpack_from('<I', negotiate, 12)[0]
    flags = (NEGOTIATE_UNICODE | REQUEST_TARGET | NEGOTIATE_NTLM | ALWAYS_SIGN | TARGET_TYPE_DOMAIN
             | EXTENDED_SESSIONSECURITY | TARGET_INFO | NEGOTIATE_VERSION | (client_flags & ECHOED))
    server_challenge = os.urandom(8)
    target = DOMAIN.encode('utf-16-le')
    info = _av_pairs()
    header_len = 56
    message = (SIGNATURE + struct.pack('<I', 2)
               + struct.pack('<HHI', len(target), len(target), header_len)
               + struct.pack('<I', flags) + server_challenge + b'\x00' * 8
               + struct.pack('<HHI', len(info), len(info), header_len + len(target))
               + struct.pack('<BBHxxxB', 10, 0, 19041, 15) + target + info)
    return message, server_challenge


def authenticate(message, server_challenge):
    """(user, domain, NT proof check) from an AUTHENTICATE message.

    Returns a function ``verify(password) -> bool`` with the names, because the
    user's password is looked up by the name the message carries.
    """
    if message_type(message) != 3:
        raise NtlmError('expected AUTHENTICATE')
    flags = struct.unpack_from('<I', message, 60)[0]
    encoding = 'utf-16-le' if flags & NEGOTIATE_UNICODE else 'cp437'
    nt_response = _field(message, 20)
    domain = _field(message, 28).decode(encoding)
    user = _field(message, 36).decode(encoding)
    if len(nt_response) <= 24:
        raise NtlmError('NTLMv1 is not accepted')
    proof, blob = nt_response[:16], nt_response[16:]

    def verify(password):
        nt_hash = md4(password.encode('utf-16-le'))
        key = hmac.new(nt_hash, (user.upper() + domain).encode('utf-16-le'), hashlib.md5).digest()
        expected = hmac.new(key, server_challenge + blob, hashlib.md5).digest()
        return hmac.compare_digest(expected, proof)

    return user, domain, verify
