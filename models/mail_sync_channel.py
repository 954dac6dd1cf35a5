"""The state of one channel of one mailbox (incoming email, outgoing email, or appointments,
contacts and tasks): whether it runs, how often it failed in a row, when it is due, and what
its last connection test said.

One row per (mailbox, channel), read the same way by the scheduler, Test & Enable, the
health views and the alerts. The row changes only through its transition methods (in the
manner of OCA queue_job's job states), which only the sync calls: users read the rows of
their own mailbox, managers read every row, nobody writes them through RPC.
"""
from odoo import api, fields, models

from .rpc_guard import superuser_only

CHANNELS = [('incoming', 'Incoming Email'), ('outgoing', 'Outgoing Email'),
            ('act', 'Appointments, Contacts and Tasks')]
# 'ok' says no error, not that the channel runs: a Not Enabled mailbox has no errors either.
CHANNEL_STATES = [('ok', 'No Errors'), ('retrying', 'Retrying'), ('suspended', 'Suspended')]
TEST_STATES = [('not_run', 'Not Run'), ('running', 'Testing...'), ('success', 'Success'),
               ('failure', 'Failure')]


class MailSyncChannel(models.Model):
    _name = 'mail.sync.channel'
    _description = 'Mailbox Channel State'
    _order = 'mailbox_id, id'
    _rec_name = 'channel'

    mailbox_id = fields.Many2one('mail.sync.mailbox', string='Mailbox', required=True, index=True,
                                 ondelete='cascade', readonly=True)
    channel = fields.Selection(CHANNELS, required=True, readonly=True)
    status = fields.Selection(CHANNEL_STATES, default='ok', required=True, readonly=True)
    failures = fields.Integer(string='Consecutive Failures', default=0, required=True, readonly=True)
    next_sync = fields.Datetime(string='Next Sync', readonly=True,
                                help='When the channel is due next; empty: due now.')
    last_success = fields.Datetime(string='Last Successful Sync', readonly=True)
    test_state = fields.Selection(TEST_STATES, string='Last Test', default='not_run', required=True,
                                  readonly=True)
    test_date = fields.Datetime(string='Tested On', readonly=True)
    test_message = fields.Text(string='Test Result', readonly=True)
    sync_requested_by = fields.Many2one('res.users', string='Sync Now Requested By', readonly=True,
                                        help='Set by Sync Now until its cycle (a job) has run; '
                                             'that user is told when it is done.')

    _sql_constraints = [
        ('mailbox_channel_uniq', 'unique(mailbox_id, channel)', 'A mailbox has one row per channel.'),
    ]

    @api.model_cr
    def init(self):
        superuser_only(self.env)
        super(MailSyncChannel, self).init()
        # The scheduler looks for the due mailboxes of one channel, soonest first.
        self.env.cr.execute("""CREATE INDEX IF NOT EXISTS mail_sync_channel_due_idx
                               ON mail_sync_channel (channel, next_sync)""")

    def _set(self, values):
        # The access rights let nobody write a channel's state: only the sync, as superuser.
        self.sudo().write(values)
        return self

    # ------------------------------------------------------------------ transitions
    def _succeeded(self, next_sync=False):
        """A cycle succeeded: no errors, due again at ``next_sync`` (False: at once)."""
        return self._set({'status': 'ok', 'failures': 0, 'next_sync': next_sync,
                          'last_success': fields.Datetime.now()})

    def _retry_at(self, when):
        """A cycle failed in a way worth retrying: one more failure, due again at ``when``."""
        return self._set({'status': 'retrying', 'failures': self.failures + 1, 'next_sync': when})

    def _suspend(self):
        """A cycle failed for good (or too often): the channel stops until Test & Enable."""
        return self._set({'status': 'suspended', 'failures': self.failures + 1})

    def _reset(self):
        """Test & Enable passed: no errors, due at once."""
        return self._set({'status': 'ok', 'failures': 0, 'next_sync': False})

    def _test_running(self):
        return self._set({'test_state': 'running'})

    def _tested(self, passed, message):
        """Store the result of a connection test of this channel."""
        return self._set({'test_state': 'success' if passed else 'failure',
                          'test_date': fields.Datetime.now(), 'test_message': message})

    def _forget_test(self):
        """The last test proves nothing any more (not run, or settings changed since)."""
        return self._set({'test_state': 'not_run'})

    def _sync_requested(self, user):
        """Sync Now: due at once (the user asked, even during a back-off), ``user`` told
        when the cycle ran."""
        return self._set({'next_sync': False, 'sync_requested_by': user.id})

    def _sync_request_done(self):
        return self._set({'sync_requested_by': False})
