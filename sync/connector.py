"""The small interface every protocol connector follows.

``connect()`` opens an authenticated session, ``check()`` is the connection test
behind Test & Enable (returns a summary dict or raises a ``SyncError``) and
``close()`` never raises: closing a broken session must not hide the real error.
"""


class Connector(object):
    protocol = None

    def __init__(self, endpoint, credentials):
        self.endpoint = endpoint
        self.credentials = credentials
        self.client = None

    def connect(self):
        raise NotImplementedError

    def check(self):
        raise NotImplementedError

    def close(self):
        client, self.client = self.client, None
        if client is None:
            return
        try:
            self._goodbye(client)
        except Exception:
            try:
                self._drop(client)
            except Exception:
                pass

    def _goodbye(self, client):
        """Polite end of session (LOGOUT, QUIT)."""
        client.quit()

    def _drop(self, client):
        """Close the socket without a word."""
        client.close()
