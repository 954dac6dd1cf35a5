"""Local servers for the demo and the test suite: PostgreSQL, Dovecot, SMTP.

Everything listens on loopback only and is stopped by PID. Not part of the
addon (Odoo never imports this package); ``scripts/run`` and the test suite do.
"""
