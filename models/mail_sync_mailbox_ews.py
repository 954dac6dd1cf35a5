"""Incoming email from Exchange (EWS): SyncFolderItems pages into the same ledger and
import pipeline as IMAP, and the Outlook category that tracks and untracks email.

Exactly once: a page's email is fetched and committed in small chunks, then the folder's
new sync state; a cycle killed (or timed out) anywhere asks for the same page again and
finds the items of its committed chunks already known (by item id). When Exchange no longer knows the sync state, the folder
is read again from the start; the ledger's item ids and Message-IDs keep anything
from being imported twice.

Category tracking: an item carrying the profile's category (``ews_category``) is
tracked; ``ews_tagged`` on its ledger row remembers that it carried it, so that the
category disappearing (and only then) untracks it. Track and Untrack in Odoo set and
remove the category on the item.
"""
import datetime
import logging

from odoo import _, models

from ..sync import registry
from ..sync.errors import SyncError, SyncStateInvalid
from ..sync.imap import size_batches
from ..sync.message import RemoteMessage

_logger = logging.getLogger(__name__)

PAGE = 50  # changes per page (SyncFolderItems, Graph delta); its state commits when the page is done
# MimeContent per GetItem: a few items and a few MB at most, a larger item alone. Exchange
# spends time in proportion to the MIME it converts: one GetItem of 50 items of up to 25 MB
# each can outlast any timeout, and then the whole page was lost and read again every cycle.
MIME_CHUNK_ITEMS = 10
MIME_CHUNK_BYTES = 4 * 1024 * 1024
EWS_FOLDERS = (('inbox', 'inbox'), ('sent', 'sentitems'))  # role, distinguished folder id


class MailSyncMailboxEws(models.Model):
    _inherit = 'mail.sync.mailbox'

    def _ews_folders(self):
        """The mail.sync.folder rows to sync: the Inbox, and Sent Items while the owner
        tracks sent email (names are distinguished folder ids)."""
        Folder = self.env['mail.sync.folder'].sudo()
        folders = Folder.search([('mailbox_id', '=', self.id)])
        wanted = Folder
        for role, name in EWS_FOLDERS:
            if role == 'sent' and not self.user_id.mail_sync_track_sent:
                continue
            folder = folders.filtered(lambda f: f.role == role)
            if folder and folder.name != name:  # the profile changed from IMAP to Exchange
                folder.write({'name': name, 'sync_state': False})
            wanted |= folder or Folder.create({'mailbox_id': self.id, 'role': role, 'name': name})
        return wanted

    def _ews_state_lost(self, folder, exc, channel, consequence):
        """Exchange no longer knows ``folder``'s sync state: log it and read the folder from
        the start (``consequence`` says why that duplicates nothing). Re-raised when there
        was no state to lose."""
        if not folder.sync_state:
            raise exc
        self.env['mail.sync.log']._record(
            'sync_state_reset', _('Exchange no longer knows where the last sync of %(folder)s stopped '
                                  '(%(why)s): it is read again from the start; %(consequence)s.') % {
                'folder': folder.name, 'why': exc.detail or exc.code, 'consequence': consequence},
            mailbox=self, channel=channel, severity='warning', error_class='transient')
        folder.write({'sync_state': False})
        self._commit()

    def _sync_ews(self, connector, stats):
        budget = [self.server_id.cycle_cap]
        for folder in self._ews_folders():
            if budget[0] <= 0:
                stats['remaining'] += 1  # at least one page waits; counted exactly by the next cycle
                break
            self._sync_ews_folder(connector, folder, stats, budget)

    def _sync_ews_folder(self, connector, folder, stats, budget):
        """Handle the folder's SyncFolderItems pages (see ``_sync_folder_pages``).

        Exchange sends changes newest first, so in a backlog (first sync, reset state, more
        than a page waiting) a reply can come pages before its original: the backlog is
        marked on the folder and, once read to the end, its indexed replies are re-evaluated
        (see _ews_reevaluate)."""
        def apply_page(page):
            if (page.more or not folder.sync_state) and not folder.backlog_ledger_id:
                self.env.cr.execute('SELECT COALESCE(MAX(id), 0) FROM mail_sync_ledger WHERE mailbox_id = %s',
                                    [self.id])
                folder.write({'backlog_ledger_id': self.env.cr.fetchone()[0] or -1})
            self._ews_apply(connector, folder, page, stats)

        def finished():
            if folder.backlog_ledger_id:
                self._ews_reevaluate(connector, folder, stats)
                folder.write({'backlog_ledger_id': 0})
                self._commit()

        self._sync_folder_pages(
            folder, stats, budget, lambda state, cap: connector.sync_changes(folder.name, state, cap),
            lambda page: len(page.created) + len(page.updated), apply_page, finished)

    def _sync_folder_pages(self, folder, stats, budget, read_page, size, apply_page, finished=None):
        """The page loop of a source that hands out changes after a saved state (EWS's
        SyncFolderItems, Graph's delta): ``read_page(state, cap)`` reads the next page,
        ``size(page)`` is what it counts against the cycle's ``budget``, ``apply_page(page)``
        puts it in the ledger; each page commits with the folder's new state, so a cycle
        stopped anywhere reads the same page again. A state the server no longer knows
        makes the folder be read again from the start. ``finished()`` runs once the folder
        is read to its end."""
        while budget[0] > 0:
            try:
                page = read_page(folder.sync_state or None, min(PAGE, budget[0]))
            except SyncStateInvalid as exc:
                self._ews_state_lost(folder, exc, 'incoming', _('email already in Odoo is recognized '
                                                                'and not imported again'))
                continue
            budget[0] -= size(page)
            apply_page(page)
            if page.state and page.state != folder.sync_state:
                folder.write({'sync_state': page.state})
            self._commit()
            if not page.more:
                if finished:
                    finished()
                return
        stats['remaining'] += 1

    def _ews_reevaluate(self, connector, folder, stats):
        """Track the backlog's indexed email that now answers an email in Odoo: a reply
        whose original was imported later in the backlog (the one rule that depends on the
        order mail is read in). A reply to such a reply is found by the next pass; each
        chunk of MIME fetched commits (a kill repeats only the pass)."""
        if self.user_id.mail_sync_track == 'none':
            return
        rows = self.env['mail.sync.ledger'].sudo().search(
            [('mailbox_id', '=', self.id), ('folder', '=', folder.name), ('state', '=', 'indexed'),
             ('id', '>', max(folder.backlog_ledger_id, 0)), ('replies_to', '!=', False),
             ('item_id', '!=', False)], order='date, id')
        while rows:
            matched = rows.filtered(lambda row: self._known_message_id(row.replies_to.split()))
            if not matched:
                return
            rows -= matched
            for chunk in size_batches(list(matched), MIME_CHUNK_BYTES, MIME_CHUNK_ITEMS,
                                      weight=lambda row: row.size or 0):
                found = {m.item_id: m for m in connector.fetch_mime([row.item_id for row in chunk],
                                                                    folder=folder.name)}
                for row in chunk:
                    if row.item_id in found:
                        self._ews_track(row, found[row.item_id], stats, counted=False, reason='reply')
                self._commit()

    def _ews_apply(self, connector, folder, page, stats):
        """Ledger rows (and imports) for one page of changes."""
        Ledger = self.env['mail.sync.ledger'].sudo()
        category = (self.server_id.ews_category or '').strip().lower()
        # Oldest first, so that an original is imported before its replies: Exchange sends the
        # page newest first; reversed first, mail received in the same second keeps its order.
        items = sorted(reversed([item for item in page.created + page.updated if item.is_message]),
                       key=lambda item: (item.received is None,
                                         _naive_utc(item.received) or datetime.datetime.min))
        known = {row.item_id: row for row in Ledger.search(
            [('mailbox_id', '=', self.id), ('item_id', 'in', [item.item_id for item in items])])}
        since = self._first_sync_since()
        limit = self.server_id.max_message_mb * 1024 * 1024
        new, to_track, seen_ids = [], [], set()
        for item in items:
            if item.item_id in seen_ids:
                continue
            seen_ids.add(item.item_id)
            tagged = bool(category) and category in [c.lower() for c in item.categories]
            row = known.get(item.item_id)
            if row is None:
                received = _naive_utc(item.received)
                if tagged or (item in page.created and not (since and received and received < since)):
                    new.append((item, tagged))
                continue
            if tagged and not row.ews_tagged:
                row.ews_tagged = True
                if row.state == 'indexed':
                    to_track.append(row)
            elif not tagged and row.ews_tagged:
                # The category was removed in Outlook: untracked; the Odoo message stays.
                row.ews_tagged = False
                if row.state in ('imported', 'linked'):
                    row._untrack()
        tagged_ids = {item.item_id for item, tagged in new if tagged}
        for chunk in size_batches([item for item, _tagged in new], MIME_CHUNK_BYTES, MIME_CHUNK_ITEMS,
                                  weight=lambda item: item.size if item.size <= limit else 0):
            small = [item.item_id for item in chunk if item.size <= limit]
            fetched = {m.item_id: m for m in connector.fetch_mime(small, folder=folder.name)}
            messages = []
            for item in chunk:
                if item.size > limit:
                    message = RemoteMessage(item.header_block(), item_id=item.item_id, folder=folder.name,
                                            size=item.size, truncated=True)
                else:
                    message = fetched.get(item.item_id)
                if message is not None:  # else deleted since the page was read: a Delete next time
                    messages.append(message)
            rows = self._ingest_batch(messages, folder, stats)
            by_id = {message.item_id: message for message in messages}
            for row in rows.filtered(lambda r: r.item_id in tagged_ids):
                row.ews_tagged = True
                if row.state == 'indexed':
                    self._ews_track(row, by_id[row.item_id], stats)
            self._commit()  # progress per chunk: a page cut short later skips what is known
        for chunk in size_batches(to_track, MIME_CHUNK_BYTES, MIME_CHUNK_ITEMS,
                                  weight=lambda row: row.size or 0):
            found = {m.item_id: m for m in connector.fetch_mime([row.item_id for row in chunk],
                                                                folder=folder.name)}
            for row in chunk:
                if row.item_id in found:
                    self._ews_track(row, found[row.item_id], stats, counted=False)

    def _ews_track(self, row, message, stats, counted=True, reason='category'):
        """Track an email tagged in Outlook (``reason`` 'reply': found to answer an email in
        Odoo); a failure quarantines nothing (the email stays indexed) but is logged, and the
        cycle goes on."""
        try:
            with self.env.cr.savepoint():
                row._track_message(message, reason=reason)
        except Exception as exc:  # bad input never stops the mailbox
            _logger.info('mail_sync: tagged email %s of mailbox %s not tracked: %s',
                         message.message_id, self.id, exc)
            if reason == 'reply':
                code, text = 'reply_track_failed', _('A reply to an email in Odoo could not be '
                                                     'tracked: "%s" (%s).')
            else:
                code, text = 'category_track_failed', _('An email tagged in Outlook could not be '
                                                        'tracked: "%s" (%s).')
            self.env['mail.sync.log']._record(
                code, text % (row.subject, exc),
                mailbox=self, channel='incoming', severity='warning', error_class='permanent')
            return
        if counted:
            stats['indexed'] -= 1
        stats['imported'] += 1

    # ------------------------------------------------------------------ Track / Untrack
    def _mark_remote(self, row, tracked):
        """After Track (``tracked``) or Untrack in Odoo: set or remove the profile's category
        on the Exchange item. The local change stands when this fails (it is logged): the
        category is a mirror, the ledger is the truth. ``ews_tagged`` follows the item only
        once the write succeeded, so a failed write never untracks or retracks anything."""
        self.ensure_one()
        server = self.sudo().server_id
        if not registry.lookup(server.server_type).categories or not row.item_id or not server.ews_category:
            return
        try:
            with self._connection_slot('incoming') as slot:
                if slot is None:
                    raise SyncError('no_free_connection', _('all connections to the server are in use'))
                connector = self.sudo()._connector('incoming')
                try:
                    connector.set_category(row.item_id, server.ews_category, present=tracked)
                finally:
                    connector.close()
        except SyncError as exc:
            self.env['mail.sync.log'].sudo()._record_error(exc, mailbox=self, channel='incoming')
        else:
            row.sudo().ews_tagged = tracked


def _naive_utc(value):
    """An aware datetime (exchangelib's EWSDateTime) as a naive UTC datetime."""
    if value is None:
        return None
    return datetime.datetime(*value.utctimetuple()[:6])
