"""Every action explains itself: Untrack says what went and what stayed, email sent through a
mailbox says so under the message, and the migration's empty preview says why."""
from .common import MailSyncCase
from .test_incoming import raw_mail
from .test_migration import MigrationCase


class TestUntrackExplains(MailSyncCase):

    def setUp(self):
        super(TestUntrackExplains, self).setUp()
        self.server = self.make_server('imap', 'none')
        self.rep = self.make_user('rep')
        self.box = self.make_mailbox(self.rep, self.server)
        self.box.sudo(self.manager).action_test_enable()
        self.customer = self.env['res.partner'].create({'name': 'Explained Customer',
                                                        'email': 'explained@customer.test'})
        quote = self.customer.message_post(body='Our quote', subject='Quote', message_type='comment')
        self.servers.dovecot.append_many(self.box.login, [
            raw_mail('Explained Customer <explained@customer.test>', 'Re: Quote', '<x1@customer.test>',
                     quote.message_id),
            raw_mail('Explained Customer <explained@customer.test>', 'Re: Quote again',
                     '<x2@customer.test>', quote.message_id),
        ])
        self.box._sync_incoming()
        self.rows = self.box.ledger_ids.sorted('uid').sudo(self.rep)
        self.assertEqual(self.rows.mapped('state'), ['imported', 'imported'])

    def notice(self, action):
        self.assertEqual((action['res_model'], action['target'], action['name']),
                         ('mail.sync.notice', 'new', 'Email Untracked'))
        return self.env['mail.sync.notice'].browse(action['res_id']).message

    def test_untrack_says_what_went_and_what_stayed(self):
        message = self.rows[0].mail_message_id
        text = self.notice(self.rows[0].action_untrack())
        self.assertIn('"Re: Quote" is no longer tracked.', text)
        self.assertIn('Removed: its link to Explained Customer', text)
        self.assertIn('Kept: the message in the history of Explained Customer', text)
        self.assertIn('Track links it again', text)
        self.assertTrue(message.exists())
        self.assertEqual(self.rows[0].state, 'indexed')

    def test_untrack_of_several_emails(self):
        text = self.notice(self.rows.action_untrack())
        self.assertIn('2 emails are no longer tracked.', text)
        self.assertEqual(self.rows.mapped('state'), ['indexed', 'indexed'])

    def test_untrack_of_nothing_tracked_says_nothing(self):
        self.rows.action_untrack()
        self.assertIs(self.rows.action_untrack(), True)


class TestSentOrigin(MailSyncCase):
    """Email Odoo sends through a user's mailbox says so in the chatter, like incoming."""

    def setUp(self):
        super(TestSentOrigin, self).setUp()
        self.server = self.make_server('imap', 'none')
        self.rep = self.make_user('rep')
        self.rep.groups_id |= self.env.ref('base.group_partner_manager')
        self.box = self.make_mailbox(self.rep, self.server, outgoing_enabled=True)
        self.box.sudo(self.manager).action_test_enable()
        self.box.sudo(self.manager).action_approve()
        self.assertEqual(self.box.state, 'enabled')
        login, _password = self.servers.new_account()
        self.customer = self.env['res.partner'].create({'name': 'Sent Customer', 'email': login})

    def origin(self, message, user=None):
        return message.sudo(user or self.rep).message_format()[0]['mail_sync_origin']

    def test_sent_email_says_which_mailbox_it_went_through(self):
        message = self.customer.sudo(self.rep).message_post(
            body='Our offer', subject='Offer', message_type='comment', subtype='mail.mt_comment',
            partner_ids=[self.customer.id])
        self.assertEqual(self.origin(message), "Being sent through %s's mailbox" % self.box.email)
        self.box._run_cycle('outgoing')
        outbox = self.env['mail.sync.outbox'].search([('mail_message_id', '=', message.id)])
        self.assertEqual(outbox.state, 'sent')
        # Any reader of the document sees it, though not the outbox.
        self.assertEqual(self.origin(message, self.make_user('reader')),
                         "Sent through %s's mailbox" % self.box.email)
        # The copy in the Sent folder, seen by the next incoming sync, adds nothing.
        self.rep.mail_sync_track_sent = True
        self.box._run_cycle('incoming')
        self.assertTrue(self.env['mail.sync.ledger'].search([('mail_message_id', '=', message.id)]))
        self.assertEqual(self.origin(message), "Sent through %s's mailbox" % self.box.email)

    def test_failed_sending_says_so(self):
        message = self.customer.sudo(self.rep).message_post(
            body='Our offer', subject='Offer', message_type='comment', subtype='mail.mt_comment',
            partner_ids=[self.customer.id])
        self.env['mail.sync.outbox'].search([('mail_message_id', '=', message.id)]).write(
            {'state': 'failed'})
        self.assertEqual(self.origin(message),
                         "Not sent through %s's mailbox: the sending failed" % self.box.email)


class TestMigrationExplains(MigrationCase):

    def test_no_server_says_why_and_offers_no_apply(self):
        wizard = self.preview()
        self.assertFalse(wizard.line_ids)
        self.assertFalse(wizard.can_apply)
        self.assertIn('Odoo has no active incoming mail server', wizard.summary)
        self.assertIn('migrate from a CSV file', wizard.summary)

    def test_only_conflicts_say_nothing_to_apply(self):
        self.env['fetchmail.server'].create({'name': 'Gateway', 'type': 'local'})
        wizard = self.preview()
        self.assertEqual(wizard.line_ids.mapped('action'), ['conflict'])
        self.assertFalse(wizard.can_apply)
        self.assertIn('Nothing to apply', wizard.summary)

    def test_something_to_create_offers_apply(self):
        login, password = self.servers.new_account()
        self.user_for('zoe', login)
        self.fetchmail('Zoe IMAP', login, password)
        wizard = self.preview()
        self.assertTrue(wizard.can_apply)
        self.assertNotIn('Nothing', wizard.summary)


class TestEmptyStates(MailSyncCase):

    def test_empty_lists_say_why_and_what_to_do(self):
        for xmlid, why, todo in (
                ('mail_sync.action_mail_sync_my_mailbox', 'may not be mapped or enabled yet',
                 'ask your administrator to map it'),
                ('mail_sync.action_mail_sync_monitoring_health', 'none is mapped',
                 'Server-Side Sync &gt; Mailboxes'),
                ('mail_sync.action_mail_sync_migration', 'none was', 'Server-Side Sync &gt; Migrate')):
            help_text = ' '.join(self.env.ref(xmlid).help.split())
            self.assertIn(why, help_text, xmlid)
            self.assertIn(todo, help_text, xmlid)
