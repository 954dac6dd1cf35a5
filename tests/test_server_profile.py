from psycopg2 import IntegrityError

from odoo.exceptions import ValidationError
from odoo.tests.common import TransactionCase
from odoo.tools import mute_logger


class TestServerProfile(TransactionCase):

    def setUp(self):
        super(TestServerProfile, self).setUp()
        self.Server = self.env['mail.sync.server']

    def _new(self, **vals):
        values = {'name': 'P', 'server_type': 'imap', 'incoming_host': 'imap.example.com'}
        values.update(vals)
        return self.Server.create(values)

    def test_defaults(self):
        server = self._new()
        self.assertEqual((server.max_connections, server.timeout), (10, 60))
        self.assertEqual((server.interval_min, server.interval_default, server.interval_max), (1, 1, 1))
        self.assertTrue(server.verify_tls)
        self.assertEqual(server.credential_mode, 'mailbox')
        self.assertEqual(server.owner_id, self.env.user)
        self.assertEqual((server.incoming_port, server.incoming_encryption), (993, 'ssl'))

    def test_ports_follow_type_and_encryption(self):
        form = self.Server.new({'server_type': 'pop3', 'incoming_encryption': 'ssl'})
        form._onchange_incoming_defaults()
        self.assertEqual(form.incoming_port, 995)
        form.incoming_encryption = 'starttls'
        form._onchange_incoming_defaults()
        self.assertEqual(form.incoming_port, 110)
        form.server_type = 'imap'
        form._onchange_incoming_defaults()
        self.assertEqual(form.incoming_port, 143)
        form.outgoing_encryption = 'ssl'
        form._onchange_outgoing_defaults()
        self.assertEqual(form.outgoing_port, 465)
        form.outgoing_encryption = 'starttls'
        form._onchange_outgoing_defaults()
        self.assertEqual(form.outgoing_port, 587)

    def test_outgoing_host_follows_incoming_host(self):
        form = self.Server.new({'server_type': 'imap'})
        form.incoming_host = 'mail.example.com'
        form._onchange_incoming_host()
        self.assertEqual(form.outgoing_host, 'mail.example.com')

    def test_turning_off_verification_warns(self):
        form = self.Server.new({'verify_tls': False})
        result = form._onchange_verify_tls()
        self.assertIn('read the passwords', result['warning']['message'])

    @mute_logger('odoo.sql_db')
    def test_connection_limits(self):
        for bad in (0, 301):
            with self.assertRaises(IntegrityError), self.cr.savepoint():
                self._new(max_connections=bad)
        self.assertEqual(self._new(max_connections=300).max_connections, 300)
        self.assertEqual(self._new(max_connections=1).max_connections, 1)

    def test_intervals_must_be_ordered(self):
        with self.assertRaises(ValidationError):
            self._new(interval_min=5, interval_default=2)
        with self.assertRaises(ValidationError):
            self._new(interval_min=0)

    def test_type_specific_rules(self):
        with self.assertRaises(ValidationError):
            self._new(auth_method='ntlm')
        with self.assertRaises(ValidationError):
            self._new(server_type='exchange', ews_locate='url', ews_url=False)
        with self.assertRaises(ValidationError):
            self._new(server_type='exchange', ews_url='ftp://mail.example.com/EWS')
        with self.assertRaises(ValidationError):
            self._new(incoming_host=False)
        exchange = self._new(server_type='exchange', ews_locate='autodiscover', incoming_host=False,
                             auth_method='ntlm')
        self.assertEqual(exchange.auth_method, 'ntlm')

    def test_service_password_is_write_only_and_encrypted(self):
        server = self._new(credential_mode='profile', service_login='svc@example.com',
                           service_password='Svc-Pa55')
        server.invalidate_cache()
        self.assertFalse(server.service_password)
        self.assertFalse(server.read(['service_password'])[0]['service_password'])
        self.assertTrue(server.service_password_set)
        self.cr.execute('SELECT service_password_crypt FROM mail_sync_server WHERE id = %s', [server.id])
        stored = self.cr.fetchone()[0]
        self.assertNotIn('Svc-Pa55', stored)
        self.assertEqual(server._plain_service_password(), 'Svc-Pa55')
