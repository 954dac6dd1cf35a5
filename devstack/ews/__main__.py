"""``python -m devstack.ews --certs DIR``: the endpoint as a process of its own.

Prints one JSON line (URLs and ports) when it listens, then serves until
SIGTERM. Tests drive it with ``devstack.ews.control.RemoteEwsServer``.
"""
import argparse
import json
import signal
import sys
import threading

from .control import CONTROL_PATH
from .server import EwsServer


def main(argv):
    parser = argparse.ArgumentParser(prog='python -m devstack.ews')
    parser.add_argument('--certs', required=True, help='folder for ca.pem, cert.pem, key.pem')
    parser.add_argument('--domain', default='example.test', help='the Autodiscover domain')
    args = parser.parse_args(argv)
    server = EwsServer(args.certs, domain=args.domain).start()
    stopped = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopped.set())
    info = server.autodiscover
    print(json.dumps({
        'url': server.url, 'http_url': server.http_url, 'https_port': server.https_port,
        'control_url': 'http://127.0.0.1:%d%s' % (server.http_port, CONTROL_PATH),
        'domain': info.domain, 'dns_port': info.dns_port, 'proxy_url': info.proxy_url,
    }), flush=True)
    while not stopped.wait(1):
        pass
    server.stop()
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
