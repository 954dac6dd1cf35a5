"""Shared set-up for the Odoo tests: users, and profiles pointing at the test servers."""
import datetime
import json

import pytest

from odoo import fields
from odoo.tests.common import TransactionCase


@pytest.mark.usefixtures('servers_on_class')
class MailSyncCase(TransactionCase):
    """A TransactionCase with ``self.servers`` (real Dovecot + SMTP) and helpers."""

    def setUp(self):
        super(MailSyncCase, self).setUp()
        self.Server = self.env['mail.sync.server']
        self.Mailbox = self.env['mail.sync.mailbox']
        self.Log = self.env['mail.sync.log']
        self.manager = self.make_user('manager', manager=True)

    def assertScheduledIn(self, when, minutes, since):
        """``when`` (an Odoo datetime) is ``minutes`` after some moment between ``since`` and
        now, to the second it is stored with: exact, however slow the machine."""
        due = fields.Datetime.from_string(when)
        offset = datetime.timedelta(minutes=minutes)
        earliest = (since + offset).replace(microsecond=0)
        latest = datetime.datetime.utcnow() + offset
        self.assertTrue(earliest <= due <= latest, '%s not %s minutes after a moment in [%s, now]'
                        % (when, minutes, since))

    def make_user(self, name, manager=False):
        groups = [self.env.ref('base.group_user').id]
        if manager:
            groups.append(self.env.ref('mail_sync.group_mail_sync_manager').id)
        return self.env['res.users'].with_context(no_reset_password=True).create({
            'name': name.title(), 'login': '%s-%s' % (name, self.id()[-40:]),
            'email': '%s@company.test' % name, 'groups_id': [(6, 0, groups)],
        })

    def make_server(self, server_type='imap', encryption='none', **values):
        dovecot, smtp = self.servers.dovecot, self.servers.smtp
        incoming_port = {
            ('imap', 'none'): dovecot.ports['imap'], ('imap', 'starttls'): dovecot.ports['imap'],
            ('imap', 'ssl'): dovecot.ports['imaps'], ('pop3', 'none'): dovecot.ports['pop3'],
            ('pop3', 'starttls'): dovecot.ports['pop3'], ('pop3', 'ssl'): dovecot.ports['pop3s'],
        }[(server_type, encryption)]
        vals = {
            'name': 'Test %s %s' % (server_type, encryption), 'server_type': server_type,
            'incoming_host': 'localhost', 'incoming_port': incoming_port,
            'incoming_encryption': encryption, 'outgoing_host': 'localhost',
            'outgoing_port': smtp.port, 'outgoing_encryption': 'starttls', 'timeout': 10,
        }
        vals.update(values)
        return self.Server.sudo(self.manager).create(vals)

    def run_jobs(self, key):
        return run_jobs(self.env, key)

    def bus(self, user, kind):
        """The bus messages of ``kind`` sent to ``user``'s partner, oldest first."""
        channel = json.dumps([self.env.cr.dbname, 'res.partner', user.partner_id.id], separators=(',', ':'))
        rows = self.env['bus.bus'].sudo().search([('channel', '=', channel)], order='id')
        return [message for message in (json.loads(row.message) for row in rows) if message.get('type') == kind]

    def make_mailbox(self, user, server, login=None, password=None, **values):
        """A mailbox on a fresh pool account; ``login``/``password`` override its credentials."""
        account, account_password = self.servers.new_account()
        vals = {'user_id': user.id, 'server_id': server.id, 'email': account,
                'login': account if login is None else login,
                'password': account_password if password is None else password}
        vals.update(values)
        return self.Mailbox.sudo(self.manager).create(vals)


def run_jobs(env, key):
    """Run the due pending jobs whose identity key matches ``key`` (SQL LIKE, e.g.
    'mail_sync.track.%') as the runner's worker does (queue_job loads each as the user who
    enqueued it), again until none is due: a job a job enqueued for now runs too. A job that
    asks to be retried later is postponed, as the worker would. Returns their results."""
    from odoo.addons.queue_job.exception import RetryableJobError
    from odoo.addons.queue_job.job import Job
    results = []
    for _round in range(20):
        due = env['queue.job'].sudo().search([
            ('identity_key', '=like', key), ('state', '=', 'pending'),
            '|', ('eta', '=', False), ('eta', '<=', fields.Datetime.now())], order='id')
        if not due:
            break
        for record in due:
            job = Job.load(env, record.uuid)
            job.set_started()
            job.store()
            try:
                results.append(job.perform())
            except RetryableJobError as exc:
                job.postpone(result=str(exc), seconds=exc.seconds)
                job.set_pending(reset_retry=False)
            else:
                job.set_done(result=results[-1])
            job.store()
    env.clear()  # Odoo 11: the caches of every record of this transaction
    return results


def enabled_mailbox(env, server_id, email, password, name, login, **values):
    """A user and their mailbox, enabled and approved as after a manager's Test & Enable,
    without testing it: for tests whose sync worker is another process (data committed)."""
    user = env['res.users'].with_context(no_reset_password=True).create({'name': name, 'login': login})
    box = env['mail.sync.mailbox'].create(dict(values, user_id=user.id, server_id=server_id, email=email,
                                               password=password))
    box.write({'state': 'enabled', 'approved': True, 'db_uuid': box._current_db_uuid()})
    return box
