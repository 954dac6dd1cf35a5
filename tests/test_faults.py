"""Network faults between the addon and the real Dovecot, injected by a TCP proxy:
refused, stalled past the timeout, dropped in the middle of a transfer. Each is
classified, retried later with back-off, and loses nothing."""
import datetime

import odoo
import pytest

from devstack.faultproxy import FaultProxy

from .common import MailSyncCase, enabled_mailbox
from .test_incoming import raw_mail
from .kill_driver import commits, run_worker


@pytest.fixture
def proxy(request, mail_servers):
    proxy = FaultProxy(mail_servers.dovecot.ports['imap']).start()
    if request.instance is not None:
        request.instance.proxy = proxy
    yield proxy
    proxy.stop()


@pytest.mark.usefixtures('proxy')
class TestFaults(MailSyncCase):

    def setUp(self):
        super(TestFaults, self).setUp()
        self.server = self.make_server('imap', 'none', incoming_port=self.proxy.port, timeout=2)
        self.rep = self.make_user('rep')
        self.box = self.make_mailbox(self.rep, self.server)
        self.box.sudo(self.manager).action_test_enable()
        self.servers.dovecot.append_many(self.box.login, [
            raw_mail('Known <known@customer.test>', 'Q%d' % n, '<f%d@customer.test>' % n) for n in range(3)])
        self.env['res.partner'].create({'name': 'Known', 'email': 'known@customer.test'})
        self.rep.mail_sync_track = 'contacts'

    def cycle(self):
        """One incoming cycle; remembers when it started (its schedule counts from then)."""
        self.started = datetime.datetime.utcnow()
        self.box._run_incoming_cycle()

    def assert_cut_during_the_body_fetch(self, cuts=1):
        """Each cut came after the client had asked for the message bodies (not during the
        login or the listing, which other tests cover)."""
        self.assertEqual(len(self.proxy.cuts), cuts)
        for upload in self.proxy.cuts:
            self.assertIn(b'INTERNALDATE BODY.PEEK[])', upload)

    def assert_retried_then_complete(self, code, failures=1):
        log = self.Log.search([('mailbox_id', '=', self.box.id), ('code', '=', code)])
        self.assertEqual((log.error_class, log.resolved), ('transient', False),
                         self.Log.search([('mailbox_id', '=', self.box.id)]).mapped('message'))
        self.assertEqual((self.box.incoming_status, self.box.incoming_failures), ('retrying', failures))
        # exponential back-off from the minimum interval
        self.assertScheduledIn(self.box.next_sync, self.server.interval_min * 2 ** (failures - 1), self.started)
        self.assertFalse(self.box.ledger_ids, 'a failed cycle leaves nothing half-done')
        self.proxy.heal()
        self.box._run_incoming_cycle()
        self.assertEqual((self.box.incoming_status, self.box.incoming_failures), ('ok', 0))
        self.assertEqual(sorted(self.box.ledger_ids.mapped('state')), ['imported'] * 3)
        for n in range(3):
            self.assertEqual(self.env['mail.message'].search_count(
                [('message_id', '=', '<f%d@customer.test>' % n)]), 1)
        self.assertTrue(log.resolved)

    def test_refused_connection(self):
        self.proxy.refuse()
        self.cycle()
        self.assert_retried_then_complete('connection_refused')

    def test_server_silent_past_the_timeout(self):
        self.proxy.stall_after = 0  # not even a greeting
        self.cycle()
        self.assert_retried_then_complete('timeout')

    def test_stalled_in_the_middle_of_a_fetch(self):
        self.proxy.stall_after = 1500  # greeting, login, STATUS, EXAMINE pass; the bodies stall
        self.cycle()
        self.assert_cut_during_the_body_fetch()
        self.assert_retried_then_complete('timeout')

    def test_dropped_in_the_middle_of_a_fetch(self):
        self.proxy.drop_after = 1500
        self.cycle()
        self.box.sudo().next_sync = False
        self.cycle()  # a second failure: the back-off doubles
        self.assert_cut_during_the_body_fetch(cuts=2)
        self.assert_retried_then_complete('connection_lost', failures=2)

    def test_too_many_transient_failures_suspend_the_channel(self):
        self.env['ir.config_parameter'].set_param('mail_sync.max_transient_failures', '3')
        self.proxy.refuse()
        for _attempt in range(3):
            self.box._run_incoming_cycle()
        self.assertEqual((self.box.state, self.box.incoming_status, self.box.incoming_failures),
                         ('enabled', 'suspended', 3))
        note = self.box.message_ids.filtered(lambda m: self.rep.partner_id in m.partner_ids)
        self.assertIn('3 attempts in a row failed', note.body)
        self.assertIn(self.server.owner_id.partner_id, note.partner_ids, 'the profile owner is told too')
        # Test & Enable after the fix resumes where it stopped.
        self.proxy.heal()
        self.box.sudo(self.manager).action_test_enable()
        self.assertEqual((self.box.incoming_status, self.box.incoming_failures), ('ok', 0))
        self.box._run_incoming_cycle()
        self.assertEqual(len(self.box.ledger_ids), 3)


def test_drop_after_committed_batches_resumes_exactly_once(mail_servers, world_through_proxy):
    """A real worker process: the batches committed before the drop stay, the rest is
    imported by the next cycle, nothing twice."""
    proxy, box, tag, registry = world_through_proxy
    proxy.drop_after = 140000  # past the first batch of 50 bodies, before the end
    commits(run_worker(box))
    with registry.cursor() as cr:
        cr.execute("SELECT count(*), count(DISTINCT message_id) FROM mail_sync_ledger WHERE mailbox_id = %s",
                   [box])
        done, distinct = cr.fetchone()
        cr.execute("SELECT status, failures FROM mail_sync_channel WHERE mailbox_id = %s AND channel = 'incoming'",
                   [box])
        assert cr.fetchone() == ('retrying', 1)
    assert 0 < done < 120 and done % 50 == 0 and done == distinct, done
    proxy.heal()
    out = run_worker(box)
    with registry.cursor() as cr:
        cr.execute("""SELECT count(*), count(DISTINCT message_id), count(*) FILTER (WHERE state = 'imported')
                      FROM mail_sync_ledger WHERE mailbox_id = %s""", [box])
        assert cr.fetchone() == (120, 120, 120), out[-3000:]
        cr.execute("SELECT status, failures FROM mail_sync_channel WHERE mailbox_id = %s AND channel = 'incoming'",
                   [box])
        assert cr.fetchone() == ('ok', 0)
        cr.execute("SELECT count(*), count(DISTINCT message_id) FROM mail_message WHERE message_id LIKE %s",
                   ['<%s-%%' % tag])
        assert cr.fetchone() == (120, 120)


@pytest.fixture
def world_through_proxy(mail_servers):
    proxy = FaultProxy(mail_servers.dovecot.ports['imap']).start()
    registry = odoo.registry(__import__('os').environ['MAIL_SYNC_TEST_DB'])
    tag = 'drop'
    login, password = mail_servers.new_account()
    with odoo.api.Environment.manage(), registry.cursor() as cr:
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {'mail_create_nosubscribe': True})
        server = env['mail.sync.server'].create({
            'name': 'Through the proxy', 'server_type': 'imap', 'incoming_host': 'localhost',
            'incoming_port': proxy.port, 'incoming_encryption': 'none',
            'timeout': 60})  # only the cut may fail a cycle, not a slow turn on a busy machine
        partner = env['res.partner'].create({'name': 'Proxy customer'})
        thread = partner.message_post(body='Quote', message_type='comment').message_id
        body = 'x' * 2000
        mail_servers.dovecot.append_many(login, [
            raw_mail('Customer <c@proxy.test>', 'Reply %d' % n, '<%s-%d@proxy.test>' % (tag, n), thread)
            .replace(b'Body of', body.encode() + b' Body of') for n in range(120)])
        box = enabled_mailbox(env, server.id, login, password, 'Proxy user', 'proxy-user')
        cr.commit()
        ids = (server.id, partner.id, box.id, box.user_id.id)
    yield proxy, ids[2], tag, registry
    proxy.stop()
    with odoo.api.Environment.manage(), registry.cursor() as cr:
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
        env['mail.sync.mailbox'].browse(ids[2]).unlink()
        env['mail.sync.server'].browse(ids[0]).unlink()
        env['res.partner'].browse(ids[1]).unlink()
        env['res.users'].browse(ids[3]).active = False


@pytest.fixture
def smtp_proxy(request, mail_servers):
    proxy = FaultProxy(mail_servers.smtp.port).start()
    request.instance.smtp_proxy = proxy
    yield proxy
    proxy.stop()


@pytest.mark.usefixtures('smtp_proxy')
class TestSmtpFaults(MailSyncCase):
    """The same faults on the way out: nothing is lost, nothing is sent twice."""

    def setUp(self):
        super(TestSmtpFaults, self).setUp()
        self.server = self.make_server('imap', 'none', outgoing_port=self.smtp_proxy.port,
                                       outgoing_encryption='none', timeout=2)
        self.rep = self.make_user('rep')
        self.rep.groups_id |= self.env.ref('base.group_partner_manager')
        self.box = self.make_mailbox(self.rep, self.server, outgoing_enabled=True)
        self.box.sudo(self.manager).action_test_enable()
        self.box.sudo(self.manager).action_approve()
        login, _password = self.servers.new_account()
        self.customer = self.env['res.partner'].create({'name': 'Customer', 'email': login})
        self.customer.sudo(self.rep).message_post(
            body='Offer ' + 'x' * 20000, subject='Offer', message_type='comment',
            subtype='mail.mt_comment', partner_ids=[self.customer.id])
        self.row = self.env['mail.sync.outbox'].search([('mailbox_id', '=', self.box.id)])

    def delivered(self):
        client = self.servers.dovecot.imap(self.customer.email)
        try:
            client.select('INBOX', readonly=True)
            return len(client.uid('SEARCH', 'ALL')[1][0].split())
        finally:
            client.logout()

    def assert_retried_then_sent(self, code):
        log = self.Log.search([('mailbox_id', '=', self.box.id), ('channel', '=', 'outgoing')])
        self.assertEqual((log.code, log.error_class), (code, 'transient'))
        self.assertEqual((self.box.outgoing_status, self.row.state), ('retrying', 'queued'))
        self.smtp_proxy.heal()
        self.box._run_cycle('outgoing')
        self.assertEqual((self.box.outgoing_status, self.row.state, self.delivered()), ('ok', 'sent', 1))

    def test_refused(self):
        self.smtp_proxy.refuse()
        self.box._run_cycle('outgoing')
        self.assert_retried_then_sent('connection_refused')

    def test_silent_server(self):
        self.smtp_proxy.stall_after = 0
        self.box._run_cycle('outgoing')
        self.assert_retried_then_sent('timeout')

    def test_dropped_during_the_transfer_is_never_resent(self):
        self.smtp_proxy.cut_upload_after = 10000  # in the middle of the 20 KB message
        self.box._run_cycle('outgoing')
        self.assertEqual(self.row.state, 'uncertain')
        self.assertIn('may or may not have reached', self.row.mail_id.failure_reason)
        self.smtp_proxy.heal()
        self.box._run_cycle('outgoing')
        self.assertEqual((self.row.state, self.delivered()), ('uncertain', 0))
