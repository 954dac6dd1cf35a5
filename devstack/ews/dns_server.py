"""A tiny DNS server on 127.0.0.1 (UDP) for the Autodiscover test domain.

It answers A queries for the names it was given with 127.0.0.1, says NXDOMAIN
for every other name, and NOERROR with no answer for other record types of a
known name. dnspython only parses and writes the messages.
"""
import socket
import threading

import dns.exception
import dns.flags
import dns.message
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset


class DnsServer(object):
    def __init__(self, names):
        self.names = {name.lower().rstrip('.') for name in names}
        self.queries = []  # (name, type) for tests to look at
        self._sock = None

    @property
    def port(self):
        return self._sock.getsockname()[1]

    def start(self):
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind(('127.0.0.1', 0))
        threading.Thread(target=self._serve, name='ews-dns', daemon=True).start()
        return self

    def stop(self):
        sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()

    def _serve(self):
        sock = self._sock
        while True:
            try:
                data, peer = sock.recvfrom(4096)
            except OSError:
                return
            try:
                sock.sendto(self.answer(data), peer)
            except (dns.exception.DNSException, OSError):
                continue

    def answer(self, data):
        query = dns.message.from_wire(data)
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        for question in query.question:
            name = question.name.to_text(omit_final_dot=True).lower()
            self.queries.append((name, dns.rdatatype.to_text(question.rdtype)))
            if name not in self.names:
                response.set_rcode(dns.rcode.NXDOMAIN)
            elif question.rdtype == dns.rdatatype.A:
                response.answer.append(dns.rrset.from_text(
                    question.name, 60, dns.rdataclass.IN, dns.rdatatype.A, '127.0.0.1'))
        return response.to_wire()
