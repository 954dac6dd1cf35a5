"""Appointments, contacts and tasks: one two-way cycle with Exchange per mailbox.

For each kind, Exchange's changes first (SyncFolderItems, then GetItem for what changed),
then Odoo's (records in the user's filter changed since their last sync, new ones, and
deleted ones). Each item is merged field by field against the values both sides had at
its last sync (sync/reconcile.py), so a change written by the sync is never synced back,
and concurrent edits go by the profile's rule with the loser kept as a conflict.

Exactly once: an item's Odoo record and its link are committed together, and Exchange's
sync state only after the page's items; a cycle killed anywhere finds its links again by
item id (and meetings by their iCalendar UID), never creating a second record or item.
Nothing the sync does sends invitations or cancellations, in Exchange or in Odoo.
"""
import datetime
import logging
import uuid

from odoo import _, fields, models
from odoo.exceptions import AccessError

from ..sync.errors import ConflictError, PermanentError, SyncStateInvalid
from ..sync.reconcile import Conflict, reconcile
from .act import ADAPTERS, KINDS

_logger = logging.getLogger(__name__)

PAGE = 100  # changes per SyncFolderItems page, and per commit of the sync state


class MailSyncMailboxAct(models.Model):
    _inherit = 'mail.sync.mailbox'

    def _sync_act(self):
        """One cycle of the channel; returns counts per outcome."""
        self.ensure_one()
        stats = dict.fromkeys(('created', 'updated', 'pushed', 'archived', 'deleted', 'unlinked',
                               'conflicts', 'remaining'), 0)
        connector = self.sudo()._connector('act')
        self._act_budget = [self.server_id.cycle_cap]  # items per cycle: a huge first sync goes on next time
        try:
            for kind in KINDS:
                adapter = ADAPTERS[kind](self)
                directions = self.env['mail.sync.field.map'].sudo()._directions(kind)
                self._act_pull(connector, adapter, directions, stats)
                pushed = stats['pushed'] + stats['deleted']
                self._act_push(connector, adapter, directions, stats)
                if stats['pushed'] + stats['deleted'] > pushed:
                    # Take in the echoes of what was just written (known change keys): the
                    # next cycle then starts from a quiet folder.
                    self._act_pull(connector, adapter, directions, stats)
        finally:
            connector.close()
        return stats

    # ------------------------------------------------------------------ helpers
    def _act_links_of_items(self, kind, page):
        """The links of the items a SyncFolderItems page names, by item id (not every link:
        a quiet page reads nothing)."""
        item_ids = [stub.item_id for stub in page.created + page.updated] + list(page.deleted)
        if not item_ids:
            return {}
        links = self.env['mail.sync.link'].sudo().search(
            [('mailbox_id', '=', self.id), ('kind', '=', kind), ('item_id', 'in', item_ids)])
        return {link.item_id: link for link in links}

    def _act_translate_ids(self, connector, adapter):
        """A profile moved to another server type (Exchange to Microsoft 365) names the same
        items differently: the links take the new ids, and their change keys are forgotten so
        that the next read merges each item against its bases (nothing created twice)."""
        translate = getattr(connector, 'translate_ids', None)
        links = self.env['mail.sync.link'].sudo().search(
            [('mailbox_id', '=', self.id), ('kind', '=', adapter.kind), ('item_id', '!=', False)])
        mapping = translate(links.mapped('item_id')) if translate and links else {}
        for link in links.filtered(lambda l: l.item_id in mapping):
            link.write({'item_id': mapping[link.item_id], 'change_key': False})
        if mapping:
            self._commit()

    def _act_folder(self, adapter):
        Folder = self.env['mail.sync.folder'].sudo()
        return Folder.search([('mailbox_id', '=', self.id), ('role', '=', adapter.folder)]) or \
            Folder.create({'mailbox_id': self.id, 'role': adapter.folder, 'name': adapter.folder})

    def _act_since(self, adapter):
        """What is older stays out of a first sync: the profile's "process after" or, when
        it is empty, for appointments and to-dos, the channel's enabling (contacts have no
        history to spare)."""
        since = self.server_id.process_after
        if not since and adapter.spec.history:
            since = self.act_test_date
        return fields.Datetime.from_string(since) if since else None

    def _act_category(self):
        return self.server_id.ews_category or 'Tracked to Odoo'

    def _act_rule(self):
        return self.server_id.act_conflict_rule or 'recent'

    # ------------------------------------------------------------------ Exchange -> Odoo
    def _act_spent(self, stats, count=1):
        """Count ``count`` items against the cycle's cap; False once it is spent (the rest
        waits for the next cycle, which is due at once)."""
        self._act_budget[0] -= count
        if self._act_budget[0] < 0:
            stats['remaining'] += 1
            return False
        return True

    def _act_pull(self, connector, adapter, directions, stats):
        folder = self._act_folder(adapter)
        while True:
            if self._act_budget[0] <= 0:
                stats['remaining'] += 1
                return
            try:
                page = connector.item_changes(adapter.kind, folder.sync_state or None, PAGE)
            except SyncStateInvalid as exc:
                self._ews_state_lost(folder, exc, 'act', _('items already linked are recognized, '
                                                           'not created again'))
                self._act_translate_ids(connector, adapter)
                continue
            links = self._act_links_of_items(adapter.kind, page)
            if any(item_id not in links for item_id in page.deleted) and adapter.spec.series \
                    and hasattr(connector, 'series_removed'):
                page = connector.series_removed(adapter.kind, page, self._act_series_item_ids(adapter))
                links = self._act_links_of_items(adapter.kind, page)
            wanted = [stub.item_id for stub in page.created + page.updated
                      if stub.item_id not in links or links[stub.item_id].change_key != stub.change_key]
            # What the sync wrote itself comes back here: only the rest counts against the cap.
            self._act_spent(stats, len(wanted) + len([i for i in page.deleted if i in links]))
            for record in connector.get_records(adapter.kind, wanted) if wanted else ():
                self._act_pulled(connector, adapter, directions, links.get(record.item_id), record, stats)
                self._commit()
            for item_id in page.deleted:
                if item_id in links:
                    self._act_remote_deleted(adapter, links[item_id], stats)
                    self._commit()
            # A page without changes leaves the old state as good as the new one: no write.
            if page.state != folder.sync_state and (page.created or page.updated or page.deleted
                                                    or not folder.sync_state):
                folder.write({'sync_state': page.state})
                self._commit()
            if not page.more:
                return

    def _act_series_item_ids(self, adapter):
        """Item ids of this mailbox's linked series (Graph names a deleted series only by
        its instances, which the links do not hold)."""
        links = self.env['mail.sync.link'].sudo().search(
            [('mailbox_id', '=', self.id), ('kind', '=', adapter.kind), ('state', '=', 'linked'),
             ('res_model', '=', adapter.model), ('item_id', '!=', False)])
        recurring = set(adapter.series_ids(links.mapped('res_id')))
        return [link.item_id for link in links if link.res_id in recurring]

    def _act_pulled(self, connector, adapter, directions, link, remote, stats):
        """One item read from Exchange: create, link or merge its Odoo record."""
        Link = self.env['mail.sync.link'].sudo()
        if link and link.state != 'linked':
            return
        if not link:
            pending = self._act_adopt(adapter, remote)
            if pending:
                record = adapter.records.browse(pending.res_id)
                pending.write({'item_id': remote.item_id, 'change_key': remote.change_key, 'state': 'linked',
                               'uid': remote.uid or pending.uid})
                self._act_settled(pending, adapter, record, remote)
                return
            record = self._act_match(adapter, remote)
            if record is None:
                if self._act_category() not in remote.categories:
                    return  # not tracked in Outlook, and not from Odoo: not ours
                refusal = adapter.refusal(remote.values)
                if refusal:
                    self.env['mail.sync.log']._record(
                        'item_refused', _('An item tracked in Exchange was not created in Odoo: %s. '
                                          'It stays as it is in Exchange.') % refusal,
                        mailbox=self, channel='act', severity='warning')
                    return
                wanted = {key: value for key, value in remote.values.items()
                          if directions.get(key) in ('both', 'to_odoo')}
                record = adapter.create(wanted, remote)
                stats['created'] += 1
            link = Link.create({
                'mailbox_id': self.id, 'kind': adapter.kind, 'res_model': adapter.model, 'res_id': record.id,
                'item_id': remote.item_id, 'change_key': remote.change_key, 'uid': remote.uid,
                'state': 'linked'})
            self._act_settled(link, adapter, record, remote)
        else:
            record = self.env[adapter.model].sudo().with_context(active_test=False).browse(link.res_id)
            if adapter.is_gone(record):
                return  # deleted in Odoo meanwhile: the push half of the cycle settles it
            self._act_merge(connector, adapter, directions, link, record, remote, stats)
        if remote.exceptions and adapter.spec.series and self._act_may_write(record):
            adapter.apply_exceptions(record, remote.exceptions)
        if adapter.completed(remote) and record.exists() \
                and self._act_as_user(lambda: adapter.complete(record)):
            link.write({'state': 'archived'})
            stats['archived'] += 1

    def _act_match(self, adapter, remote):
        """An Odoo record this Exchange item already stands for: a meeting linked in another
        mapped user's mailbox (same iCalendar UID) that this mailbox's user may see, or None."""
        if not adapter.spec.shared_uid or not remote.uid:
            return None
        other = self.env['mail.sync.link'].sudo().search(
            [('kind', '=', adapter.kind), ('uid', '=', remote.uid), ('state', '=', 'linked')], limit=1)
        if other and adapter.selectable().search_count([('id', '=', other.res_id)] + adapter.visible_domain()):
            return adapter.records.browse(other.res_id)
        return None  # none, or one its user may not see (a colleague's private meeting)

    def _act_merge(self, connector, adapter, directions, link, record, remote, stats):
        local = adapter.read(record)
        base_remote = link._get_base('remote')
        values, refusal = adapter.accepted(remote.values, base_remote)
        if refusal:
            self.env['mail.sync.log']._record(
                'item_refused', _('A change made in Exchange was not applied in Odoo: %s. Odoo keeps '
                                  'that part of the item as it was.') % refusal,
                mailbox=self, channel='act', severity='warning')
        merge = reconcile(local, values, link._get_base('local'), base_remote, directions,
                          rule=self._act_rule(), local_time=_aware(record.write_date),
                          remote_time=remote.last_modified)
        change_key = remote.change_key
        if merge.to_odoo and self._act_write_as_user(adapter, record, merge.to_odoo):
            self._act_touch_others(link)
            stats['updated'] += 1
        elif merge.to_odoo:
            # Her rights refuse it: Odoo keeps its values, each refused field is a conflict
            # Odoo won, and the bases take both sides as they are (no retry every cycle).
            for field, value in merge.to_odoo.items():
                self._act_conflict(link, Conflict(field, local.get(field), value, 'odoo'))
                merge.base_local[field] = local.get(field)
                stats['conflicts'] += 1
        if merge.to_exchange:
            try:
                change_key = connector.update_record(
                    adapter.kind, remote.item_id, remote.change_key,
                    adapter.remote_values(merge.to_exchange, local))
                stats['pushed'] += 1
            except ConflictError:
                return  # changed again in Outlook meanwhile: merged on the next cycle
            except PermanentError as exc:
                self._act_item_gone(exc, adapter, link, stats)
                return
        for conflict in merge.conflicts:
            self._act_conflict(link, conflict)
            stats['conflicts'] += 1
        self._act_store(link, record, merge.base_local, merge.base_remote, change_key, remote.last_modified)

    def _act_as_user(self, write):
        """Run ``write`` (a write done with the mailbox user's rights); False when her
        rights refuse it (nothing of it is kept), True otherwise."""
        try:
            with self.env.cr.savepoint():
                write()
        except AccessError:
            return False
        return True

    def _act_may_write(self, record):
        """Whether the mailbox's user may write ``record`` (rights and record rules)."""
        mine = record.sudo(self.user_id)
        if not mine.check_access_rights('write', raise_exception=False):
            return False
        try:
            mine.check_access_rule('write')
        except AccessError:
            return False
        return True

    def _act_write_as_user(self, adapter, record, canonical):
        """Write Exchange's changes on ``record`` as the mailbox's user, never as superuser:
        a record she may not write is left as it is (False)."""
        if self._act_as_user(lambda: adapter.write(record.sudo(self.user_id), canonical)):
            return True
        _logger.info('Mailbox %s: Exchange changes of %s %s not written: its user may not write it.',
                     self.id, record._name, record.id)
        return False

    def _act_item_gone(self, exc, adapter, link, stats):
        """The item of ``link`` was deleted in Exchange between the read and the write
        (ErrorItemNotFound): as a deletion reported by the pull, for this item alone; the
        cycle goes on. Any other permanent error is re-raised."""
        if exc.code != 'item_missing':
            raise exc
        self._act_remote_deleted(adapter, link, stats)

    def _act_touch_others(self, link):
        """The record changed from this mailbox: the other mailboxes linked to it (a shared
        meeting) push the change on their next cycle, whatever write_date says (Odoo stamps
        it with the transaction's start)."""
        self.env['mail.sync.link'].sudo().search(
            [('res_model', '=', link.res_model), ('res_id', '=', link.res_id), ('id', '!=', link.id),
             ('state', '=', 'linked')]).write({'local_write_date': False})

    def _act_conflict(self, link, conflict):
        self.env['mail.sync.conflict'].sudo()._record(
            link, conflict.field, conflict.odoo_value, conflict.exchange_value, conflict.winner,
            self._act_rule())

    def _act_settled(self, link, adapter, record, remote):
        """A new link: both sides as they are now are its bases (nothing to merge yet)."""
        self._act_store(link, record, adapter.read(record), remote.values, remote.change_key,
                        remote.last_modified)

    def _act_store(self, link, record, base_local, base_remote, change_key, remote_modified):
        record.invalidate_cache()
        link._set_base('local', base_local)
        link._set_base('remote', base_remote)
        link.write({'change_key': change_key, 'local_write_date': record.write_date,
                    'remote_modified': _naive(remote_modified)})

    def _act_remote_deleted(self, adapter, link, stats):
        """Deleted in Exchange: archive in Odoo (unless other mailboxes still hold the item)."""
        record = self.env[link.res_model].sudo().with_context(active_test=False).browse(link.res_id)
        shared = self.env['mail.sync.link'].sudo().search_count(
            [('res_model', '=', link.res_model), ('res_id', '=', link.res_id), ('id', '!=', link.id),
             ('state', '=', 'linked')])
        if record.exists() and not shared and not self._act_as_user(
                lambda: adapter.archive(record.sudo(self.user_id))):
            _logger.info('Mailbox %s: %s %s deleted in Exchange stays active in Odoo: its user may not '
                         'archive it.', self.id, link.res_model, link.res_id)
        link.write({'state': 'archived'})
        stats['archived'] += 1

    # ------------------------------------------------------------------ Odoo -> Exchange
    def _act_push(self, connector, adapter, directions, stats):
        outbound = {key for key, direction in directions.items() if direction in ('both', 'to_exchange')}
        Link = self.env['mail.sync.link'].sudo()
        pending = Link.search([('mailbox_id', '=', self.id), ('kind', '=', adapter.kind), ('state', '=', 'pending')])
        for link in pending:  # not adopted by the pull
            record = adapter.records.browse(link.res_id)
            if record.exists():
                self._act_push_new(connector, adapter, outbound, record, stats, link=link)
            else:
                link.unlink()
            self._commit()
        Model = adapter.records
        for link in Link.browse(self._act_changed_link_ids(adapter)):
            record = Model.browse(link.res_id)
            if adapter.is_gone(record):
                self._act_local_deleted(connector, adapter, link, record, stats)
            else:
                self._act_push_changes(connector, adapter, directions, link, record, stats)
            self._commit()
        domain = self._act_domain(adapter.kind) + adapter.recent_domain(self._act_since(adapter)) + \
            adapter.own_item_domain()
        # The selection runs with the user's rights (record rules apply), never as superuser.
        for res_id in self._act_unlinked_ids(adapter, domain + adapter.visible_domain()):
            if not self._act_spent(stats):
                return
            self._act_push_new(connector, adapter, outbound, Model.browse(res_id), stats)
            self._commit()

    def _act_changed_link_ids(self, adapter):
        """Ids of this mailbox's live links of ``adapter``'s kind whose record changed since
        its last sync (write_date, to the second as the ORM keeps it, differs from the
        link's), or was deleted or archived: one query, whatever the number of links."""
        table = adapter.records._table
        archived = ' OR NOT r.active' if _stored(adapter.records, 'active') else ''
        self.env.cr.execute("""
            SELECT l.id FROM mail_sync_link l LEFT JOIN "%s" r ON r.id = l.res_id
             WHERE l.mailbox_id = %%s AND l.kind = %%s AND l.state = 'linked' AND l.res_model = %%s
               AND (r.id IS NULL OR l.local_write_date IS NULL
                    OR date_trunc('second', r.write_date) IS DISTINCT FROM l.local_write_date%s)
             ORDER BY l.res_id, l.id""" % (table, archived), [self.id, adapter.kind, adapter.model])
        return [row[0] for row in self.env.cr.fetchall()]

    def _act_unlinked_ids(self, adapter, domain):
        """Ids (ascending) of the records in ``domain``, searched with the mailbox user's
        rights and record rules, that no link of this mailbox holds (NOT EXISTS, not a
        list of every linked id)."""
        Model = adapter.selectable()
        Model.check_access_rights('read')
        query = Model._where_calc(domain)
        Model._apply_ir_rules(query, 'read')
        table = Model._table
        query.where_clause.append(
            'NOT EXISTS (SELECT 1 FROM mail_sync_link l WHERE l.mailbox_id = %%s AND l.res_model = %%s '
            'AND l.res_id = "%s".id)' % table)
        query.where_clause_params.extend([self.id, adapter.model])
        from_clause, where_clause, params = query.get_sql()
        self.env.cr.execute('SELECT DISTINCT "%s".id FROM %s WHERE %s ORDER BY "%s".id'
                            % (table, from_clause, where_clause, table), params)
        return [row[0] for row in self.env.cr.fetchall()]

    def _act_push_changes(self, connector, adapter, directions, link, record, stats):
        base_remote = link._get_base('remote')
        local = adapter.read(record)
        merge = reconcile(local, base_remote, link._get_base('local'), base_remote, directions,
                          rule=self._act_rule())
        change_key = link.change_key
        if merge.to_exchange:
            try:
                change_key = connector.update_record(
                    adapter.kind, link.item_id, link.change_key, adapter.remote_values(merge.to_exchange, local))
            except ConflictError:
                return  # Outlook changed it meanwhile: the next pull merges both
            except PermanentError as exc:
                self._act_item_gone(exc, adapter, link, stats)
                return
            stats['pushed'] += 1
        self._act_store(link, record, merge.base_local, merge.base_remote, change_key,
                        link.remote_modified and _aware(link.remote_modified))

    def _act_push_new(self, connector, adapter, outbound, record, stats, link=None):
        """A record in the user's filter, not linked yet: create its Exchange item.

        The link is committed first as 'pending' with the values about to be written, so
        that a cycle killed after Exchange created the item adopts it on the next pull
        (by UID, or by what identifies a contact or task) instead of creating another."""
        local = adapter.read(record)
        values = adapter.remote_values({key: value for key, value in local.items() if key in outbound}, local)
        Link = self.env['mail.sync.link'].sudo()
        if link is None:
            uid = None
            if adapter.spec.shared_uid:  # one UID for every mapped user's copy of a meeting
                other = Link.search([('res_model', '=', adapter.model), ('res_id', '=', record.id),
                                     ('uid', '!=', False)], limit=1)
                uid = other.uid or '%s@odoo' % uuid.uuid4()
            link = Link.create({'mailbox_id': self.id, 'kind': adapter.kind, 'res_model': adapter.model,
                                'res_id': record.id, 'uid': uid, 'state': 'pending'})
        if link.uid:
            values['uid'] = link.uid
        link._set_base('remote', values)
        self._commit()
        item_id, change_key = connector.create_record(adapter.kind, values, categories=(self._act_category(),))
        link.write({'item_id': item_id, 'change_key': change_key, 'state': 'linked'})
        remote = connector.get_records(adapter.kind, [item_id])
        if remote and remote[0].uid and remote[0].uid != link.uid:
            link.write({'uid': remote[0].uid})  # Graph's own UID: what attendees' copies carry
        if remote:
            self._act_store(link, record, local, remote[0].values, remote[0].change_key, remote[0].last_modified)
        else:
            self._act_store(link, record, local, values, change_key, None)
        stats['pushed'] += 1

    def _act_adopt(self, adapter, remote):
        """The pending link whose creation ``remote`` is (a cycle killed after Exchange
        created the item but before the link was saved), or an empty recordset."""
        # Graph names a new event's UID itself: the one Odoo sent comes back as transaction_id.
        identities = {adapter.identity(remote.values, uid)
                      for uid in (remote.uid, getattr(remote, 'transaction_id', None))}
        for link in self.env['mail.sync.link'].sudo().search(
                [('mailbox_id', '=', self.id), ('kind', '=', adapter.kind), ('state', '=', 'pending')]):
            intended = link._get_base('remote')
            if adapter.identity(intended, intended.get('uid')) in identities:
                return link
        return self.env['mail.sync.link']

    def _act_local_deleted(self, connector, adapter, link, record, stats):
        """Deleted (or archived) in Odoo: delete in Exchange only a future appointment the
        user organizes; otherwise the item stays in Outlook and the link ends."""
        if record.exists() and adapter.may_delete_remote(record) or \
                not record.exists() and adapter.may_delete_remote_gone(link._get_base('local')):
            connector.delete_record(adapter.kind, link.item_id)
            link.write({'state': 'unlinked'})
            stats['deleted'] += 1
        else:
            link.write({'state': 'unlinked'})
            stats['unlinked'] += 1


def _stored(model, name):
    field = model._fields.get(name)
    return bool(field and field.store and field.column_type)


def _aware(value):
    if not value:
        return None
    if isinstance(value, str):
        value = fields.Datetime.from_string(value)
    return value.replace(tzinfo=datetime.timezone.utc) if value.tzinfo is None else value


def _naive(value):
    if not value:
        return False
    return fields.Datetime.to_string(value.astimezone(datetime.timezone.utc).replace(tzinfo=None))


