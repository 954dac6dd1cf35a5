"""Incoming email for one mailbox: read what is new on the server, decide by the
user's tracking rule, import through Odoo's mail gateway, remember it in the ledger.

Exactly once: a message's ledger row and the records it produces are written in
the same transaction, and what is "new" is computed from the ledger (never from
the server's flags), so an interrupted cycle resumes where its last commit left.
"""
import base64
import logging

from psycopg2.extensions import TransactionRollbackError

from odoo import _, api, fields, models
from odoo.exceptions import UserError

from ..sync.errors import PermanentError, SyncError
from ..sync.imap import size_batches
from ..sync.message import clean_text

_logger = logging.getLogger(__name__)

BATCH = 50
CYCLE_CAP = 500  # items per mailbox and cycle when the profile sets none
MAX_PARTIES = 10  # recipients of a sent email looked up as contacts
MAX_REPLIES_TO = 20  # Message-IDs kept on an indexed Exchange row to recognize a reply later
OUTCOMES = ('imported', 'linked', 'indexed', 'quarantined')
RAW_KEEP_BYTES = 10 * 1024 * 1024  # quarantined originals kept for managers, capped


class MailSyncMailboxIncoming(models.Model):
    _inherit = 'mail.sync.mailbox'

    last_sync = fields.Datetime(string='Last Sync', readonly=True, copy=False)
    last_sync_count = fields.Integer(string='Items in Last Cycle', readonly=True, copy=False)
    ledger_ids = fields.One2many('mail.sync.ledger', 'mailbox_id', string='Remote Messages')
    sync_interval = fields.Integer(string='Current Interval (min)', readonly=True, copy=False,
                                   help='Adapts between the profile\'s minimum and maximum: shorter '
                                        'after cycles that brought mail, longer when idle.')

    # ------------------------------------------------------------------ entry points
    @api.model
    def _cron_sync_incoming(self, mailbox_ids=None):
        """The due incoming jobs, run here (see the scheduler)."""
        return self._cron_sync('incoming', mailbox_ids=mailbox_ids)

    def _run_incoming_cycle(self):
        return self._run_cycle('incoming')

    def action_sync_now(self):
        """Sync Now (owner or manager): incoming email, and appointments, contacts and tasks
        when they sync too, run at once as jobs."""
        return self._sync_now(['incoming', 'act'])

    # ------------------------------------------------------------------ one cycle
    def _sync_incoming(self):
        """Run one incoming cycle; return counts per outcome (and ``remaining``: items left
        for the next cycle when the per-cycle cap was reached)."""
        self.ensure_one()
        stats = dict.fromkeys(('imported', 'linked', 'indexed', 'quarantined', 'remaining'), 0)
        connector = self.sudo()._connector('incoming')
        try:
            self._incoming_cycles()[connector.protocol](connector, stats)
        finally:
            connector.close()
        self.sudo().write({'last_sync': fields.Datetime.now(),
                           'last_sync_count': sum(stats[key] for key in OUTCOMES)})
        self._commit()
        return stats

    def _incoming_cycles(self):
        """The incoming cycle of each connector protocol; a server type's own model file
        adds its entry (``super()`` plus one key), so no cycle branches on the type."""
        return {'imap': self._sync_imap, 'pop3': self._sync_pop3, 'ews': self._sync_ews}

    def _fetchers(self):
        """How each connector protocol fetches one ledger row's message now (for Track):
        ``fetch(connector, row)`` -> list of RemoteMessages (empty when gone)."""
        return {'imap': self._fetch_imap_row, 'pop3': self._fetch_pop3_row, 'ews': self._fetch_ews_row}

    # ------------------------------------------------------------------ IMAP
    def _imap_folders(self, connector):
        """The mail.sync.folder rows to sync: the Inbox, and the Sent folder (found on the
        server once) while the owner tracks sent email."""
        Folder = self.env['mail.sync.folder'].sudo()
        folders = Folder.search([('mailbox_id', '=', self.id)])
        inbox = folders.filtered(lambda f: f.role == 'inbox') or Folder.create(
            {'mailbox_id': self.id, 'role': 'inbox', 'name': 'INBOX'})
        sent = folders.filtered(lambda f: f.role == 'sent')
        if not self.user_id.mail_sync_track_sent:
            return inbox
        if not sent:
            name = connector.find_sent_folder()
            if not name:
                self.env['mail.sync.log']._record(
                    'sent_folder_missing', _('No Sent folder was found in this mailbox: sent email '
                                             'is not tracked.'),
                    mailbox=self, channel='incoming', severity='warning', error_class='permanent')
                return inbox
            sent = Folder.create({'mailbox_id': self.id, 'role': 'sent', 'name': name})
        return inbox | sent

    def _sync_imap(self, connector, stats):
        folders = self._imap_folders(connector)
        statuses = connector.status(folders.mapped('name'))
        budget = [self.server_id.cycle_cap or CYCLE_CAP]
        for folder in folders:
            status = statuses[folder.name]
            if status is None:
                if folder.role == 'inbox':
                    raise SyncError('folder_missing', folder.name)
                folder.unlink()  # the Sent folder was renamed or removed: found again next cycle
                continue
            if folder._is_unchanged(status):
                continue
            if self._sync_imap_folder(connector, folder, stats, budget):
                folder.write({'uidnext': status.uidnext})
                self._commit()

    def _sync_imap_folder(self, connector, folder, stats, budget):
        """Import what is new in one folder, in UID order, committing per batch together
        with the folder's high-water mark. Returns False when the cycle's cap stopped it."""
        state = connector.select_folder(folder.name)
        if state.uidvalidity != folder.uidvalidity:
            # A new generation of UIDs (first sync, recreated folder, rebuilt server index):
            # read the folder again; the ledger's Message-IDs keep it from importing twice.
            folder.write({'uidvalidity': state.uidvalidity, 'last_uid': 0, 'uidnext': 0})
        since = None if folder.last_uid else self._first_sync_since()
        listed = connector.list_new(folder.last_uid, since=since) if state.exists else []
        todo, rest = listed[:budget[0]], listed[budget[0]:]
        limit = self.server_id.max_message_mb * 1024 * 1024
        for batch in size_batches(todo, weight=lambda item: item.size if item.size <= limit else 0):
            small = [item.uid for item in batch if item.size <= limit]
            fetched = {m.uid: m for m in connector.fetch(small, folder=folder.name, batch=len(small) or 1)}
            for item in batch:
                if item.size > limit:
                    fetched[item.uid] = connector.fetch_header(item.uid, folder=folder.name)
            rows = self._ingest_batch([fetched[item.uid] for item in batch if fetched.get(item.uid)],
                                      folder, stats)
            folder.write({'last_uid': batch[-1].uid})
            self._commit()
            # Only once the ledger knows them: a move before the commit could lose them.
            self._move_failed(connector, folder.name, rows.filtered(lambda r: r.state == 'quarantined'))
        self._move_failed(connector, folder.name, self._unmoved_failed(folder, state.uidvalidity))
        budget[0] -= len(todo)
        stats['remaining'] += len(rest)
        return not rest

    def _unmoved_failed(self, folder, uidvalidity):
        """Quarantined messages of ``folder`` still to move: a worker killed between a
        batch's commit and its move, or between the move and its record, left them (a UID
        moved already is simply not found again by the next move)."""
        server = self.server_id
        if not (server.move_failed and server.failed_folder):
            return self.env['mail.sync.ledger']
        return self.env['mail.sync.ledger'].sudo().search([
            ('mailbox_id', '=', self.id), ('folder', '=', folder.name), ('uidvalidity', '=', uidvalidity),
            ('state', '=', 'quarantined'), ('moved_to', '=', False)])

    def _move_failed(self, connector, folder, rows):
        """Move quarantined messages to the profile's failed folder, when asked to. A
        failure here is logged and changes nothing else: the ledger already has them."""
        server = self.server_id
        if not (rows and server.move_failed and server.failed_folder):
            return
        try:
            connector.move(rows.mapped('uid'), folder, server.failed_folder)
        except SyncError as exc:
            self.env['mail.sync.log']._record_error(exc, mailbox=self, channel='incoming')
        else:
            rows.write({'moved_to': server.failed_folder})
        self._commit()

    # ------------------------------------------------------------------ POP3
    def _sync_pop3(self, connector, stats):
        """Import what is new by UIDL. Sizes come first (LIST): a message above the
        profile's maximum is never downloaded, only its header block (``TOP n 0``)."""
        Ledger = self.env['mail.sync.ledger'].sudo()
        uidls = connector.list_uidls()
        known = set(Ledger.search([('mailbox_id', '=', self.id), ('uidl', 'in', list(uidls))]).mapped('uidl'))
        since = self._first_sync_since() if not known else None
        todo = sorted((number, uidl) for uidl, number in uidls.items() if uidl not in known)
        sizes = connector.list_sizes() if todo else {}
        if since:
            todo = self._pop3_set_aside_old(connector, todo, sizes, since)
        cap = self.server_id.cycle_cap or CYCLE_CAP
        stats['remaining'] += max(0, len(todo) - cap)
        todo = todo[:cap]
        limit = self.server_id.max_message_mb * 1024 * 1024
        batch = []
        for number, uidl in todo:
            message = self._pop3_read(connector, number, uidl, sizes.get(number), limit)
            if message is None:
                continue  # gone meanwhile: no longer listed at the next cycle
            batch.append(message)
            if len(batch) == BATCH:
                self._ingest_batch(batch, False, stats, listed=uidls)
                self._commit()
                batch = []
        self._ingest_batch(batch, False, stats, listed=uidls)
        self._commit()

    def _pop3_set_aside_old(self, connector, todo, sizes, since):
        """First sync: read the header block of every message and remember those dated before
        ``since`` ("Process Email Received After") as expired, so they are never imported
        nor read again, whatever the per-cycle cap. Returns the (number, UIDL) still to do."""
        Ledger = self.env['mail.sync.ledger'].sudo()
        rest = []
        for count, (number, uidl) in enumerate(todo, 1):
            head = self._pop3_read(connector, number, uidl, sizes.get(number), 0)
            if head is None:
                continue
            if not (_utc(head.date) and _utc(head.date) < since):
                rest.append((number, uidl))
                continue
            Ledger._insert({'mailbox_id': self.id, 'uidl': uidl, 'message_id': head.message_id,
                            'state': 'expired', 'size': head.size, 'date': _naive(head.date)})
            if count % (BATCH * 10) == 0:
                self._commit()
        self._commit()
        return rest

    def _pop3_read(self, connector, number, uidl, size, limit):
        """One POP3 message: whole, or its header block when above ``limit``. When the server
        refuses it (-ERR), its header block is kept with the reason, to be quarantined; when
        the server refuses that too (another client deleted it: "-ERR Message 2 expunged."),
        None: one message never stops the others."""
        try:
            if size is not None and size > limit:
                return connector.fetch_header(number, uidl, size)
            return connector.retrieve(number, uidl, size)
        except PermanentError as exc:
            if exc.code != 'protocol':
                raise
            refused = exc.detail
        try:
            message = connector.fetch_header(number, uidl, size)
        except PermanentError as exc:
            if exc.code != 'protocol':
                raise
            _logger.info('mail_sync: POP3 message %s of mailbox %s skipped: %s', uidl, self.id, exc)
            return None
        message.refused = refused
        return message

    def _first_sync_since(self):
        process_after = self.server_id.process_after
        return fields.Datetime.from_string(process_after) if process_after else None

    # ------------------------------------------------------------------ messages
    def _ingest_batch(self, messages, folder, stats, listed=None):
        """Ingest messages, with the duplicate look-ups of the whole batch in two queries.
        Returns their ledger rows. ``listed``: the UIDLs on a POP3 server now."""
        Ledger = self.env['mail.sync.ledger'].sudo()
        if not messages:
            return Ledger
        ids = list({message.message_id for message in messages})
        known = {}
        for row in Ledger.search([('mailbox_id', '=', self.id), ('message_id', 'in', ids)]):
            if row.message_id not in known or known[row.message_id].state == 'quarantined':
                known[row.message_id] = row  # a row that is not quarantined speaks first
        seen = {
            'ledger': known,
            'odoo': {msg.message_id: msg for msg in self.env['mail.message'].sudo().search(
                [('message_id', 'in', ids)])},
            'listed': listed,
        }
        rows = Ledger
        for message in messages:
            if message.uidl:
                location = {'uidl': message.uidl}
            elif message.item_id:  # Exchange: the item's id in its folder
                location = {'item_id': message.item_id, 'folder': folder.name, 'sent': folder.role == 'sent'}
            else:
                location = {'folder': folder.name, 'uidvalidity': folder.uidvalidity, 'uid': message.uid,
                            'sent': folder.role == 'sent'}
            rows |= self._ingest(message, location, stats, seen, role=folder and folder.role)
        return rows

    def _ingest(self, message, location, stats, seen=None, role=None):
        """Record one remote message in the ledger, importing it when the rules say so."""
        Ledger = self.env['mail.sync.ledger'].sudo()
        seen = seen or {'ledger': {}, 'odoo': {}}
        earlier = seen['ledger'].get(message.message_id)
        if earlier and earlier.state == 'quarantined' and _moved(earlier, location, seen.get('listed')):
            # Set aside before, now at a new place (UIDVALIDITY change, new UIDL or item id):
            # the one quarantine row follows the message; no new row, no new log line.
            earlier.write(location)
            return earlier
        values = dict(location, mailbox_id=self.id, message_id=message.message_id,
                      subject=(message.subject or '')[:500], email_from=message.header('From')[:500],
                      recipients=', '.join(message.recipients)[:500], size=message.size,
                      date=_naive(message.date))
        try:
            if message.refused:
                raise SyncError('refused', _('the server refused to send it: %s') % message.refused)
            if message.truncated:
                raise SyncError('too_large', _('%.1f MB is above this profile\'s maximum email size '
                                               '(%d MB)') % (message.size / 1048576.0,
                                                              self.server_id.max_message_mb))
            with self.env.cr.savepoint():
                values.update(self._track(message, seen, role))
                if values['state'] in ('indexed', 'linked'):
                    values['preview'] = message.preview()
                if values['state'] == 'indexed' and message.item_id and message.references:
                    values['replies_to'] = ' '.join(message.references[:MAX_REPLIES_TO])[:2000]
                row = Ledger._insert(values)
            stats[values['state']] += 1
        except TransactionRollbackError:  # a concurrent update, not bad input: the cycle retries
            raise
        except Exception as exc:  # bad input never stops the mailbox: quarantine it
            error = clean_text((exc.detail or exc.code) if isinstance(exc, SyncError)
                               else '%s: %s' % (type(exc).__name__, exc))
            _logger.info('mail_sync: quarantined %s in mailbox %s: %s', message.message_id, self.id, error)
            values.update(state='quarantined', error=error, track_reason=False, mail_message_id=False,
                          model=False, res_id=False)
            values['raw_attachment_id'] = self.env['ir.attachment'].sudo().create({
                'name': 'quarantined-%s.eml' % (message.uid or message.uidl
                                                 or message.message_id.strip('<>')),
                'datas': base64.b64encode(message.raw[:RAW_KEEP_BYTES]),
                'datas_fname': 'message.eml', 'res_model': 'mail.sync.mailbox', 'res_id': self.id,
            }).id
            row = Ledger.create(values)
            stats['quarantined'] += 1
            self.env['mail.sync.log']._record(
                'message_quarantined', _('A message could not be imported and was set aside: '
                                         '"%s" from %s (%s).') % (values['subject'], values['email_from'],
                                                                  error),
                mailbox=self, channel='incoming', severity='warning', error_class='permanent')
        seen['ledger'].setdefault(message.message_id, row)
        if row.mail_message_id:
            seen['odoo'].setdefault(message.message_id, row.mail_message_id)
        return row

    def _track(self, message, seen, role=None):
        """Ledger values saying what became of ``message`` (import, link or index only)."""
        earlier = seen['ledger'].get(message.message_id)
        if earlier and earlier.state != 'quarantined':
            # Same message at a new place (UIDVALIDITY change, recreated folder, copy):
            # remember the place, import nothing.
            return {'state': earlier.state if earlier.state in ('indexed', 'expired') else 'linked',
                    'track_reason': earlier.track_reason, 'mail_message_id': earlier.mail_message_id.id,
                    'model': earlier.model, 'res_id': earlier.res_id}
        existing = seen['odoo'].get(message.message_id)
        if existing:
            # Sent from Odoo, or already imported through another mapped user's mailbox.
            return {'state': 'linked', 'mail_message_id': existing.id, 'model': existing.model,
                    'res_id': existing.res_id}
        route = self._tracking_route(message, sent=role == 'sent')
        if not route:
            return {'state': 'indexed'}
        reason, model, res_id = route
        posted = self._import(message, model, res_id)
        return {'state': 'imported', 'track_reason': reason, 'mail_message_id': posted.id,
                'model': posted.model, 'res_id': posted.res_id}

    def _tracking_route(self, message, rule=None, sent=False):
        """(reason, fallback model, fallback id) by the owner's rule, or None to only index.
        For sent email the other party is the recipients, not the sender."""
        rule = rule or self.user_id.mail_sync_track
        if rule == 'none':
            return None
        replied = message.references and self._known_message_id(message.references)
        if replied:
            # Its thread is also the fallback: Odoo's own reply detection gives up on some
            # mail (no To header while an alias has an empty name, as crm's default one).
            return ('reply',) + replied
        if rule == 'odoo_replies':
            return None
        if self._alias_recipient(message):
            return ('alias', None, None)
        if sent:
            own = {(self.email or '').lower(), (self.user_id.email or '').lower()}
            parties = [pair for pair in message.addressees if pair[1] not in own][:MAX_PARTIES]
        else:
            parties = [message.sender] if message.sender[1] else []
        for _name, address in parties:
            lead = self._open_lead_of(address)
            if lead:
                return ('known_lead', 'crm.lead', lead.id)
        Partner = self.env['res.partner'].sudo()
        for _name, address in parties:
            partner = Partner.search([('email', '=ilike', address)], limit=1)
            if partner:
                return ('known_sender', 'res.partner', partner.id)
        if rule == 'all' and parties and self.server_id.create_unknown_contacts:
            name, address = parties[0]
            partner = Partner.create({'name': name or address, 'email': address})
            return ('all_email', 'res.partner', partner.id)
        return None

    def _known_message_id(self, message_ids):
        """(model, id) of the thread of the latest of these messages Odoo has ((None, None)
        for a message without a document), or None (plain SQL: once per remote message)."""
        self.env.cr.execute('SELECT model, res_id FROM mail_message WHERE message_id IN %s '
                            'ORDER BY id DESC LIMIT 1', [tuple(message_ids)])
        row = self.env.cr.fetchone()
        if row is None:
            return None
        model, res_id = row
        return (model, res_id) if model and res_id else (None, None)

    def _alias_recipient(self, message):
        domain = self.env['ir.config_parameter'].sudo().get_param('mail.catchall.domain')
        if not domain:
            return False
        names = [addr.split('@')[0] for addr in message.recipients
                 if addr.endswith('@' + domain.lower())]
        return bool(names) and bool(self.env['mail.alias'].sudo().search_count(
            [('alias_name', 'in', names)]))

    def _import(self, message, model, res_id):
        """Post through Odoo's mail gateway; return the mail.message it created."""
        raw = message.raw
        if not message.header('Message-ID'):
            # Give the gateway the same stable Message-ID the ledger knows.
            raw = b'Message-ID: ' + message.message_id.encode('ascii') + b'\r\n' + raw
        self.env['mail.thread'].sudo().with_context(mail_sync_mailbox_id=self.id).message_process(
            model, raw, thread_id=res_id)
        posted = self.env['mail.message'].sudo().search([('message_id', '=', message.message_id)],
                                                         limit=1)
        if not posted:
            raise SyncError('not_imported', _('the mail gateway did not post the message'))
        return posted

    def _fetch_imap_row(self, connector, row):
        state = connector.select_folder(row.folder)
        if state.uidvalidity != row.uidvalidity:
            raise UserError(_('This email moved on the server since it was listed; it will '
                              'appear again at the next sync.'))
        return list(connector.fetch([row.uid], folder=row.folder))

    def _fetch_ews_row(self, connector, row):
        return list(connector.fetch_mime([row.item_id], folder=row.folder)) if row.item_id else []

    def _fetch_pop3_row(self, connector, row):
        number = connector.list_uidls().get(row.uidl)
        return [connector.retrieve(number, row.uidl)] if number else []


def _moved(row, location, listed=None):
    """Whether the quarantined ``row`` is the message now found at ``location`` having
    left its old place, rather than a second copy of it that sits on the server too."""
    if location.get('uidl'):
        return bool(row.uidl) and listed is not None and row.uidl not in listed
    if location.get('item_id'):
        return bool(row.item_id) and row.folder == location['folder']
    return bool(row.uid) and row.folder == location['folder'] and row.uidvalidity != location['uidvalidity']


def _utc(value):
    """An aware datetime as a naive UTC datetime (Odoo's convention), None when unusable."""
    if value is None:
        return None
    try:
        if value.tzinfo is not None:
            value = (value - value.utcoffset()).replace(tzinfo=None)
        return value
    except (OverflowError, ValueError, TypeError):
        return None


def _naive(value):
    value = _utc(value)
    return fields.Datetime.to_string(value) if value else False
