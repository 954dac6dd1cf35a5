import datetime

from odoo import SUPERUSER_ID, _, api, fields, models
from odoo.exceptions import AccessError, UserError
from odoo.osv import expression

from . import transaction
from .rpc_guard import superuser_only
from ..sync.message import clean_text

INDEX_RETENTION_DAYS = 30
LEDGER_STATES = [
    ('imported', 'Tracked'),
    ('linked', 'Linked (already in Odoo)'),
    ('indexed', 'Not Tracked'),
    ('tracking', 'Being Tracked'),
    ('quarantined', 'Quarantined'),
    ('expired', 'Expired from the Index'),
]
# What untracked email says: its owner's alone (tracked email is in Odoo, under its
# document's access rules). Others, managers included, see these as empty.
CONTENT_FIELDS = ('subject', 'email_from', 'recipients', 'preview', 'replies_to')
TRACKED_STATES = ('imported', 'linked')
TRACK_REQUEST_FIELDS = ('track_target_model', 'track_target_id', 'track_requested')
TRACK_REASONS = [
    ('reply', 'Reply to an Odoo email'),
    ('alias', 'Sent to an Odoo alias'),
    ('known_sender', 'From a known contact'),
    ('known_lead', 'From the contact of an open lead or opportunity'),
    ('all_email', 'All email is tracked'),
    ('manual', 'Tracked manually'),
    ('category', 'Tagged in Outlook'),
]


class MailSyncLedger(models.Model):
    """Our memory of every remote message seen in a mailbox: where it is on the server
    (IMAP UIDVALIDITY + UID, or POP3 UIDL), its Message-ID, and what became of it.

    A ledger row commits in the same transaction as the records it produces, so a
    message is imported once and only once whatever is interrupted. Untracked mail
    keeps a light index here (sender, subject, date, size, preview; no body).
    """

    _name = 'mail.sync.ledger'
    _description = 'Server-Side Sync: Remote Message'
    _order = 'date desc, id desc'
    _rec_name = 'subject'

    mailbox_id = fields.Many2one('mail.sync.mailbox', required=True, ondelete='cascade', index=True)
    user_id = fields.Many2one(related='mailbox_id.user_id', store=True, readonly=True, string='User')
    folder = fields.Char(help='IMAP folder; empty for POP3.')
    sent = fields.Boolean(string='Sent Email', help='Found in the Sent folder: sent by the mailbox owner.')
    moved_to = fields.Char(string='Moved To', help='Folder this failed email was moved to on the server.')
    uidvalidity = fields.Integer(string='UIDVALIDITY')
    uid = fields.Integer(string='UID')
    uidl = fields.Char(string='POP3 UIDL')
    item_id = fields.Char(string='EWS Item ID', index=True)
    ews_tagged = fields.Boolean(
        string='Has the Outlook Category',
        help='The Exchange item carried the profile\'s tracking category when last seen: removing '
             'it in Outlook untracks the email.')
    message_id = fields.Char(string='Message-ID', required=True, index=True)
    state = fields.Selection(LEDGER_STATES, required=True, index=True)
    track_reason = fields.Selection(TRACK_REASONS, string='Why Tracked')
    # Track runs as a job (models/mail_sync_mailbox_track.py): what it was asked to do.
    track_target_model = fields.Char(string='Track On (Model)')
    track_target_id = fields.Integer(string='Track On (ID)')
    track_requested = fields.Datetime(string='Tracking Requested')
    track_error = fields.Char(string='Could Not Track', help='Why the last Track of this email failed.')
    mail_message_id = fields.Many2one('mail.message', string='Odoo Message', ondelete='set null')
    model = fields.Char(string='Document Model')
    res_id = fields.Integer(string='Document ID')
    subject = fields.Char()
    email_from = fields.Char(string='From')
    recipients = fields.Char(string='To')
    date = fields.Datetime()
    size = fields.Integer()
    preview = fields.Char()
    replies_to = fields.Char(string='Replies To', help='Exchange: Message-IDs an untracked email '
                             'answers, to track it as a reply when its original is imported later '
                             'in the same backlog (changes come newest first).')
    error = fields.Text(help='Why the message was quarantined.')
    raw_attachment_id = fields.Many2one('ir.attachment', string='Original Message', ondelete='set null',
                                        groups='mail_sync.group_mail_sync_manager')

    @api.model_cr
    def init(self):
        superuser_only(self.env)
        cr = self.env.cr
        cr.execute("""CREATE UNIQUE INDEX IF NOT EXISTS mail_sync_ledger_imap_uniq
                      ON mail_sync_ledger (mailbox_id, folder, uidvalidity, uid) WHERE uid IS NOT NULL""")
        cr.execute("""CREATE UNIQUE INDEX IF NOT EXISTS mail_sync_ledger_pop_uniq
                      ON mail_sync_ledger (mailbox_id, uidl) WHERE uidl IS NOT NULL""")
        cr.execute("""CREATE UNIQUE INDEX IF NOT EXISTS mail_sync_ledger_ews_uniq
                      ON mail_sync_ledger (mailbox_id, item_id) WHERE item_id IS NOT NULL""")

    # ------------------------------------------------------------------ untracked content
    # Record rules hide no row from managers (they see states, sizes, dates, errors), so the
    # content of other users' untracked email is protected field by field: blank when read,
    # and searching, grouping or sorting on it only considers what the user may see.
    @api.model
    def _content_visible_domain(self):
        return ['|', ('user_id', '=', self.env.uid), ('state', 'in', list(TRACKED_STATES))]

    def _read_from_database(self, field_names, inherited_field_names=[]):
        super(MailSyncLedger, self)._read_from_database(field_names, inherited_field_names)
        hidden = [self._fields[name] for name in field_names if name in CONTENT_FIELDS]
        if not hidden or not self.ids or self.env.uid == SUPERUSER_ID:
            return
        self.env.cr.execute("""SELECT id FROM mail_sync_ledger WHERE id IN %s
                              AND state NOT IN %s AND user_id IS DISTINCT FROM %s""",
                            [tuple(self.ids), TRACKED_STATES, self.env.uid])
        cache = self.env.cache
        for row in self.browse([row_id for row_id, in self.env.cr.fetchall()]):
            for field in hidden:
                if cache.contains_value(row, field):
                    cache.set(row, field, False)

    @api.model
    def _mentions_content(self, names):
        return any(isinstance(name, str) and name.split('.')[0].split(':')[0].strip().split(' ')[0]
                   in CONTENT_FIELDS for name in names)

    @api.model
    def _search(self, args, offset=0, limit=None, order=None, count=False, access_rights_uid=None):
        if self.env.uid != SUPERUSER_ID and (
                self._mentions_content(leaf[0] for leaf in args if isinstance(leaf, (list, tuple)) and leaf)
                or self._mentions_content((order or '').split(','))):
            args = expression.AND([list(args), self._content_visible_domain()])
        return super(MailSyncLedger, self)._search(args, offset=offset, limit=limit, order=order, count=count,
                                                   access_rights_uid=access_rights_uid)

    @api.model
    def read_group(self, domain, fields, groupby, offset=0, limit=None, orderby=False, lazy=True):
        groupby_names = [groupby] if isinstance(groupby, str) else list(groupby or [])
        if self.env.uid != SUPERUSER_ID and self._mentions_content(groupby_names + (orderby or '').split(',')):
            domain = expression.AND([list(domain or []), self._content_visible_domain()])
        return super(MailSyncLedger, self).read_group(domain, fields, groupby, offset=offset, limit=limit,
                                                      orderby=orderby, lazy=lazy)

    @api.model
    def create(self, values):
        self._check_track_request(values)
        return super(MailSyncLedger, self).create(_storable(values))

    @api.multi
    def write(self, values):
        self._check_track_request(values)
        return super(MailSyncLedger, self).write(_storable(values))

    @api.model
    def _check_track_request(self, values):
        """Only Track asks the owner's Track job to import an email: a manager (who may write
        rows) writing or forging a row Being Tracked, on a document of their choice, would
        read the owner's untracked email there."""
        if self.env.uid != SUPERUSER_ID and (values.get('state') == 'tracking' or any(
                name in values for name in TRACK_REQUEST_FIELDS)):
            raise AccessError(_('Only the owner of a mailbox can track its email, with Track.'))

    @api.model
    def _insert(self, values):
        """Create one row with a single INSERT. The sync writes a row per remote message,
        and the ORM's create cost more than all the rest of the sync's bookkeeping."""
        values = dict(_storable(values), user_id=self.env['mail.sync.mailbox'].browse(values['mailbox_id']).user_id.id)
        columns, params = [], []
        for name, value in sorted(values.items()):
            field = self._fields[name]
            assert field.store and field.column_type, name
            columns.append('"%s"' % name)
            params.append(value if value is not False or field.type == 'boolean' else None)
        self.env.cr.execute(
            'INSERT INTO mail_sync_ledger (create_uid, write_uid, create_date, write_date, %s) '
            "VALUES (%%s, %%s, now() at time zone 'UTC', now() at time zone 'UTC', %s) RETURNING id"
            % (', '.join(columns), ', '.join(['%s'] * len(params))),
            [self.env.uid, self.env.uid] + params)
        row = self.browse(self.env.cr.fetchone()[0])
        self.env['mail.sync.mailbox'].invalidate_cache(['ledger_ids'], [values['mailbox_id']])
        return row

    @api.model
    def _cron_expire_index(self, batch=5000):
        """Apply the index retention: untracked email older than the setting loses its
        sender, recipients, subject and preview (the row stays, so the email is never
        taken for new), and quarantined originals are deleted. Works in batches."""
        days = int(self.env['ir.config_parameter'].sudo().get_param(
            'mail_sync.index_retention_days', INDEX_RETENTION_DAYS) or INDEX_RETENTION_DAYS)
        cutoff = fields.Datetime.to_string(datetime.datetime.utcnow() - datetime.timedelta(days=days))
        cr = self.env.cr
        expired = 0
        while True:
            cr.execute("""UPDATE mail_sync_ledger SET state = 'expired', subject = NULL, email_from = NULL,
                                 recipients = NULL, preview = NULL, replies_to = NULL, write_date = now() at time zone 'UTC'
                          WHERE id IN (SELECT id FROM mail_sync_ledger
                                       WHERE state = 'indexed' AND coalesce(date, create_date) < %s
                                       LIMIT %s)""", [cutoff, batch])
            expired += cr.rowcount
            if cr.rowcount < batch:
                break
            self._commit_housekeeping()
        raws = self.sudo().search([('state', '=', 'quarantined'), ('create_date', '<', cutoff),
                                   ('raw_attachment_id', '!=', False)])
        raws.mapped('raw_attachment_id').unlink()
        self.invalidate_cache()
        return expired

    def _commit_housekeeping(self):
        """Commit point between batches of the index retention."""
        transaction.commit(self.env.cr)

    def _check_owner(self):
        """Only the owner decides about their email (not even a manager: tracking would
        put a user's untracked email into Odoo for others to read)."""
        if self.env.uid == SUPERUSER_ID:
            return
        for row in self:
            if row.mailbox_id.user_id != self.env.user:
                raise AccessError(_('Only the owner of a mailbox can track its email.'))

    def action_track(self):
        """Track these emails: they show as Being Tracked at once, and a job fetches each one
        from the server and posts it where the rules would; the owner is told when it ran.
        (No arguments: the web client passes its context to buttons.)"""
        return self._request_track()

    def _request_track(self, target=None):
        """Mark the Not Tracked rows among these Being Tracked (on ``target``, a record with
        a chatter, when given) and enqueue their mailboxes' Track jobs, run as this user."""
        self._check_owner()
        rows = self.sudo().filtered(lambda r: r.state == 'indexed')
        if not rows:
            return True
        for mailbox in rows.mapped('mailbox_id'):
            reason = mailbox._track_blocked_reason()
            if reason:
                raise UserError(_('This email cannot be tracked now: %s') % reason)
        rows.write({'state': 'tracking', 'track_target_model': target._name if target else False,
                    'track_target_id': target.id if target else False,
                    'track_requested': fields.Datetime.now(), 'track_error': False})
        for mailbox in rows.mapped('mailbox_id'):
            self.env['mail.sync.mailbox'].browse(mailbox.id)._enqueue_track()
        return True

    def _track_target(self):
        """The record the user asked to track this email on (None: where the rules say)."""
        if not self.track_target_model:
            return None
        target = self.track_target_model in self.env and \
            self.env[self.track_target_model].sudo().browse(self.track_target_id).exists()
        if not target:
            raise UserError(_('The record to track the email on no longer exists.'))
        return target

    def _track_failed(self, reason):
        """Track of this email did not happen: Not Tracked again, with the reason."""
        self.write({'state': 'indexed', 'track_target_model': False, 'track_target_id': False,
                    'track_requested': False, 'track_error': reason})

    def _track_message(self, message, target=None, reason='manual'):
        """Import ``message`` (the email of this indexed row) on ``target``, else where the
        known-contacts rule would post it, else on a new contact; link it when it is
        already in Odoo."""
        self.ensure_one()
        mailbox = self.mailbox_id
        existing = self.env['mail.message'].sudo().search(
            [('message_id', '=', message.message_id)], limit=1)
        if existing:
            posted = existing
        else:
            if target:
                model, res_id = target._name, target.id
            else:
                route = mailbox._tracking_route(message, rule='contacts', sent=self.sent)
                if route:
                    model, res_id = route[1], route[2]
                else:  # asked explicitly: an unknown correspondent becomes a contact
                    name, address = (message.addressees or [('', '')])[0] if self.sent else message.sender
                    partner = self.env['res.partner'].sudo().create(
                        {'name': name or address or _('Unknown sender'), 'email': address})
                    model, res_id = 'res.partner', partner.id
            posted = mailbox._import(message, model, res_id)
        self.sudo().write({'state': 'imported', 'track_reason': reason, 'mail_message_id': posted.id,
                    'model': posted.model, 'res_id': posted.res_id, 'track_target_model': False,
                    'track_target_id': False, 'track_requested': False, 'track_error': False})

    def action_untrack(self):
        """Remove the link to Odoo; the Odoo message and its document stay as they are.
        Returns a notice that says what went and what stayed."""
        self._check_owner()
        rows = self.sudo().filtered(lambda r: r.state in ('imported', 'linked'))
        if not rows:
            return True
        notice = self._untrack_notice(rows)
        rows._untrack()
        for row in rows:
            row.mailbox_id._mark_remote(row, tracked=False)
        return self.env['mail.sync.notice']._show(_('Email Untracked'), notice)

    def _untrack_notice(self, rows):
        """What Untrack removes and keeps, naming the document when the user may read it."""
        if len(rows) > 1:
            return _('%d emails are no longer tracked.\n'
                     'Removed: their links to Odoo documents, and the line under each message saying '
                     'which mailbox it came from.\n'
                     'Kept: the messages in the documents\' history (delete them there if they must '
                     'go) and the emails in your mailbox on the server.\n'
                     'They stay listed in My Mailbox as Not Tracked: Track links them again.') % len(rows)
        document = _('its document')
        if rows.model in self.env and rows.res_id:
            try:
                document = self.env[rows.model].browse(rows.res_id).display_name or document
            except AccessError:
                pass
        return _('"%(subject)s" is no longer tracked.\n'
                 'Removed: its link to %(document)s, and the line under the message saying which '
                 'mailbox it came from.\n'
                 'Kept: the message in the history of %(document)s (delete it there if it must go) '
                 'and the email in your mailbox on the server.\n'
                 'It stays listed in My Mailbox as Not Tracked: Track links it again.') % {
            'subject': rows.subject or _('(no subject)'), 'document': document}

    def _untrack(self):
        self.write({'state': 'indexed', 'track_reason': False, 'mail_message_id': False,
                    'model': False, 'res_id': False})

    def action_open_document(self):
        self.ensure_one()
        if not self.model or not self.res_id:
            raise UserError(_('This email is not linked to a document.'))
        return {'type': 'ir.actions.act_window', 'res_model': self.model, 'res_id': self.res_id,
                'view_mode': 'form', 'target': 'current'}


def _storable(values):
    """Remote text as PostgreSQL stores it: a NUL in a subject or an address, or bytes that
    decoded to lone surrogates, would make the INSERT fail and the message unrecordable."""
    return {name: clean_text(value) if isinstance(value, str) else value for name, value in values.items()}
