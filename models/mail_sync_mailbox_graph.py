"""Incoming email from Microsoft 365 through Microsoft Graph: delta pages of the Inbox and
Sent Items into the same ledger and import pipeline as IMAP and EWS, and the category
that tracks and untracks email (the profile's ``ews_category``, both ways, as with EWS).

Exactly once: each page's ledger rows and the folder's next link (``@odata.nextLink``
while the round goes on, ``@odata.deltaLink`` at its end) are committed together, so a
cycle killed anywhere asks for the same page again and finds its messages already
known (by Graph id). When Graph no longer knows the state (410), the folder is read
again from the start: messages known by id or by internetMessageId are not fetched
nor imported again.
"""
import datetime
import logging

import psycopg2

from odoo import _, fields, models

from ..sync.errors import SyncError
from ..sync.message import RemoteMessage
from .mail_sync_graph_subscription import GRAPH_FOLDERS, LIFETIME, RENEW_BEFORE, ROLE_CHANNEL, roles_of

_logger = logging.getLogger(__name__)


class MailSyncMailboxGraph(models.Model):
    _inherit = 'mail.sync.mailbox'

    def _incoming_cycles(self):
        cycles = super(MailSyncMailboxGraph, self)._incoming_cycles()
        cycles['graph'] = self._sync_graph
        return cycles

    def _fetchers(self):
        fetchers = super(MailSyncMailboxGraph, self)._fetchers()
        fetchers['graph'] = self._fetch_ews_row  # by item id, like Exchange
        return fetchers

    graph_subscription_ids = fields.One2many('mail.sync.graph.subscription', 'mailbox_id',
                                             string='Change Notifications',
                                             groups='mail_sync.group_mail_sync_manager')

    def _sync_graph(self, connector, stats):
        self._graph_take_pending('incoming')
        budget = [self.server_id.cycle_cap]
        # The well-known names of Graph are those of EWS ('inbox', 'sentitems').
        for folder in self._ews_folders():
            if budget[0] <= 0:
                stats['remaining'] += 1
                break
            self._sync_graph_folder(connector, folder, stats, budget)
        self._graph_maintain_subscriptions(connector)

    def _sync_act(self):
        """Microsoft 365: the act cycle covers the notifications so far, then keeps the
        subscriptions of events, contacts and tasks."""
        if self.server_id.server_type != 'graph':
            return super(MailSyncMailboxGraph, self)._sync_act()
        self._graph_take_pending('act')
        stats = super(MailSyncMailboxGraph, self)._sync_act()
        if self.server_id._graph_notify_url() or self.sudo().graph_subscription_ids.filtered(
                lambda s: s.role in roles_of('act')):
            connector = self.sudo()._connector('act')
            try:
                self._graph_maintain_subscriptions(connector, 'act')
            finally:
                connector.close()
        return stats

    # ------------------------------------------------------------------ change notifications
    def _pushed_sql(self, channel):
        roles = ', '.join("'%s'" % role for role in roles_of(channel))  # constants, no input
        if not roles:
            return 'FALSE'
        return """(ch.status = 'ok' AND EXISTS (
                       SELECT 1 FROM mail_sync_graph_subscription push
                       WHERE push.mailbox_id = mail_sync_mailbox.id AND push.pending
                         AND push.role IN (%s)))""" % roles

    def _polling_bounds(self):
        """Subscribed mailboxes are polled less often: notifications say when to look."""
        bounds = super(MailSyncMailboxGraph, self)._polling_bounds()
        server = self.server_id
        if server.server_type == 'graph' and server.graph_public_url and self.sudo().graph_subscription_ids.filtered(
                lambda s: s.state == 'active'):
            return tuple(max(bound, server.graph_subscribed_interval) for bound in bounds)
        return bounds

    def _graph_take_pending(self, channel):
        """A cycle of ``channel`` starts: the notifications so far are covered by it. A
        notification written meanwhile (a conflict) leaves the flag set: one more cycle follows."""
        self.env.cr.execute("""SELECT 1 FROM mail_sync_graph_subscription
                               WHERE mailbox_id = %s AND pending AND role IN %s LIMIT 1""",
                            [self.id, tuple(roles_of(channel))])
        if not self.env.cr.fetchone():
            return  # an idle cycle writes nothing
        try:
            with self.env.cr.savepoint():
                self.env.cr.execute("""UPDATE mail_sync_graph_subscription SET pending = FALSE
                                       WHERE mailbox_id = %s AND pending AND role IN %s RETURNING id""",
                                    [self.id, tuple(roles_of(channel))])
                taken = self.env.cr.fetchall()
        except psycopg2.extensions.TransactionRollbackError:
            return
        if taken:
            self.env['mail.sync.graph.subscription'].invalidate_cache(['pending'])
            self._commit()

    def _graph_maintain_subscriptions(self, connector, channel='incoming'):
        """Subscribe what ``channel`` syncs (the folders, or the events, contacts and tasks)
        when the profile has a public URL, renew what expires within a day or needs
        reauthorization, drop what is no longer wanted (the incoming cycle also drops those
        of a disabled act channel). A failure here is logged and leaves polling as it is."""
        Subscription = self.env['mail.sync.graph.subscription'].sudo()
        server = self.server_id
        url = server._graph_notify_url() if server.server_type == 'graph' else False
        wanted = set()
        if url and channel == 'incoming':
            wanted = {'inbox'} | ({'sent'} if self.user_id.mail_sync_track_sent else set())
        elif url and channel == 'act' and self.act_enabled:
            wanted = set(roles_of('act'))
        roles = roles_of(channel) + (roles_of('act') if channel == 'incoming' and not self.act_enabled else [])
        now = datetime.datetime.utcnow().replace(microsecond=0)
        expiry = (now + LIFETIME).strftime('%Y-%m-%dT%H:%M:%SZ')
        changed = False
        for row in Subscription.search([('mailbox_id', '=', self.id), ('role', 'in', roles)]):
            try:
                if row.role not in wanted or row.state == 'removed':
                    if row.state != 'removed':
                        connector.unsubscribe(row.remote_id)
                    row.unlink()
                    changed = True
                    continue
                wanted.discard(row.role)
                expires = fields.Datetime.from_string(row.expires)
                if row.state == 'reauthorize' or expires - now < RENEW_BEFORE:
                    connector.renew(row.remote_id, expiry)
                    row.write({'state': 'active', 'expires': fields.Datetime.to_string(now + LIFETIME)})
                    changed = True
            except SyncError as exc:
                if exc.code == 'item_missing':  # gone at Microsoft: subscribe again below
                    role = row.role
                    row.unlink()
                    wanted.add(role)
                    changed = True
                    continue
                self._graph_push_failed(exc, channel)
        for role in sorted(wanted):
            state = Subscription._new_client_state()
            try:
                if ROLE_CHANNEL[role] == 'act':
                    remote_id, _expires = connector.subscribe_kind(role, url, state, expiry, lifecycle_url=url)
                else:
                    remote_id, _expires = connector.subscribe(GRAPH_FOLDERS[role], url, state, expiry,
                                                              lifecycle_url=url)
            except SyncError as exc:
                self._graph_push_failed(exc, channel)
                continue
            row = Subscription.create({'mailbox_id': self.id, 'role': role, 'remote_id': remote_id,
                                       'expires': fields.Datetime.to_string(now + LIFETIME)})
            row._secret_set('client_state_crypt', state)
            changed = True
        if changed:
            self._commit()

    def _graph_push_failed(self, exc, channel='incoming'):
        self.env['mail.sync.log']._record(
            'graph_subscription_failed', _('Microsoft 365 change notifications could not be set up '
                                           '(%s): changes are found by polling meanwhile.')
            % self.env['mail.sync.log']._describe(exc, mailbox=self),
            mailbox=self, channel=channel, severity='warning', error_class='transient')

    def _sync_graph_folder(self, connector, folder, stats, budget):
        """Handle the folder's delta pages (the page loop of EWS: ``_sync_folder_pages``)."""
        self._sync_folder_pages(
            folder, stats, budget, lambda state, cap: connector.delta(folder.name, state, cap),
            lambda page: len(page.items), lambda page: self._graph_apply(connector, folder, page, stats))

    def _graph_apply(self, connector, folder, page, stats):
        """Ledger rows (and imports) for one delta page."""
        Ledger = self.env['mail.sync.ledger'].sudo()
        category = (self.server_id.ews_category or '').strip().lower()
        items, seen_ids = [], set()
        for item in page.items:
            if item.item_id not in seen_ids:
                seen_ids.add(item.item_id)
                items.append(item)
        known = {row.item_id: row for row in Ledger.search(
            [('mailbox_id', '=', self.id), ('item_id', 'in', [item.item_id for item in items])])}
        # After a lost state or a move, a message may come back under another id: the ledger
        # knows it by Message-ID in the same role of folder; it is re-pointed, not fetched.
        message_ids = [item.message_id for item in items if item.item_id not in known and item.message_id]
        by_message_id = {}
        if message_ids:
            for row in Ledger.search([('mailbox_id', '=', self.id), ('message_id', 'in', message_ids),
                                      ('sent', '=', folder.role == 'sent'), ('state', '!=', 'quarantined')],
                                     order='id'):
                by_message_id.setdefault(row.message_id, row)
        since = self._first_sync_since()
        limit = self.server_id.max_message_mb * 1024 * 1024
        new, to_track = [], []
        for item in items:
            tagged = bool(category) and category in [c.lower() for c in item.categories]
            row = known.get(item.item_id)
            if row is None and item.message_id in by_message_id:
                row = by_message_id.pop(item.message_id)
                row.write({'item_id': item.item_id, 'folder': folder.name})
            if row is None:
                received = _naive_utc(item.received)
                if tagged or not (since and received and received < since):
                    new.append((item, tagged))
                continue
            if tagged and not row.ews_tagged:
                row.ews_tagged = True
                if row.state == 'indexed':
                    to_track.append(row)
            elif not tagged and row.ews_tagged:
                row.ews_tagged = False  # the category was removed in Outlook: untracked
                if row.state in ('imported', 'linked'):
                    row._untrack()
        small = [item.item_id for item, _tagged in new if item.size <= limit]
        sizes = {item.item_id: item.size for item, _tagged in new}
        fetched = {m.item_id: m for m in connector.fetch_mime(small, folder=folder.name, sizes=sizes)}
        messages, tagged_ids = [], set()
        for item, tagged in new:
            if item.size > limit:
                message = RemoteMessage(item.header_block(), item_id=item.item_id, folder=folder.name,
                                        size=item.size, truncated=True)
            else:
                message = fetched.get(item.item_id)
            if message is None:
                continue  # deleted since the page was read
            if item.size:
                message.size = item.size
            messages.append(message)
            if tagged:
                tagged_ids.add(item.item_id)
        rows = self._ingest_batch(messages, folder, stats)
        by_id = {message.item_id: message for message in messages}
        for row in rows.filtered(lambda r: r.item_id in tagged_ids):
            row.ews_tagged = True
            if row.state == 'indexed':
                self._ews_track(row, by_id[row.item_id], stats)
        if to_track:
            found = {m.item_id: m for m in connector.fetch_mime([row.item_id for row in to_track],
                                                                folder=folder.name)}
            for row in to_track:
                if row.item_id in found:
                    self._ews_track(row, found[row.item_id], stats, counted=False)


def _naive_utc(value):
    """Graph's ISO 8601 UTC text ('2026-11-29T05:00:00Z') as a naive UTC datetime."""
    try:
        return datetime.datetime.strptime((value or '')[:19], '%Y-%m-%dT%H:%M:%S')
    except ValueError:
        return None
