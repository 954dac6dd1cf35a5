"""SyncFolderItems: the changes of one folder since the client's sync state.

Each item (or tombstone) is reported once with its net change since the state
(see syncstate.py): unknown to the client -> Create; known and changed -> Update;
known and only marked read or unread -> ReadFlagChange; known and deleted or
moved away -> Delete; created and gone in between -> nothing. At most
MaxChangesReturned changes per response; ignored items count as sent.

Changes come NEWEST FIRST, as Exchange 2010 SP2 and later and Exchange Online send
them (Microsoft, "Mailbox synchronization and EWS in Exchange",
https://learn.microsoft.com/en-us/exchange/client-developer/exchange-web-services/mailbox-synchronization-and-ews-in-exchange:
"in Exchange 2010 SP2 and later, the newest items are returned first"): in a backlog
the first page holds the latest mail, so a reply can come pages before its original.
While a run is unfinished its state keeps the change number it started from and lists
the change numbers already sent above it; the last page moves the change number to
the store's and forgets that list.

An error message still carries an empty SyncState and IncludesLastItemInRange,
as Exchange sends them (exchangelib reads both before looking at the code).
"""
from .. import syncstate
from ..shapes import Shape, item_xml
from ..soap import m, mq, operation_response, response_message, t
from ..store import StoreError


def _changes(folder, since, known, sent):
    """(change number, kind, item or tombstone) for what the client has not seen, newest
    first; ``sent``: change numbers already sent in earlier pages of an unfinished run."""
    out = []
    for item in folder.items.values():
        if item.created_seq not in known:
            out.append((item.changed_seq, 'Create', item))
        elif item.content_seq > since:
            out.append((item.changed_seq, 'Update', item))
        elif item.changed_seq > since:
            out.append((item.changed_seq, 'ReadFlagChange', item))
    for item_id, (created_seq, deleted_seq) in folder.tombstones.items():
        if created_seq in known:
            out.append((deleted_seq, 'Delete', (item_id, created_seq)))
    out = [change for change in out if change[0] not in sent]
    out.sort(key=lambda change: change[0], reverse=True)
    return out


def sync_folder_items(ctx, op):
    shape = Shape(op.find(mq('ItemShape')))
    limit = int(op.findtext(mq('MaxChangesReturned')) or 512)
    ignore = {elem.get('Id') for elem in (op.find(mq('Ignore')) or ())}
    try:
        folder = ctx.folder(op.find(mq('SyncFolderId'))[0])
        since, known, sent = syncstate.decode(op.findtext(mq('SyncState')), folder.id)
    except StoreError as exc:
        return operation_response('SyncFolderItems', [
            response_message('SyncFolderItems', exc.code, exc.text, children=error_tail())])
    changes = _changes(folder, since, known, sent)
    chosen = changes[:limit]
    elements = []
    for _seq, kind, target in chosen:
        if kind == 'Delete':
            item_id, created_seq = target
            known.discard(created_seq)
            if item_id not in ignore:
                elements.append(t('Delete', [t('ItemId', Id=item_id)]))
            continue
        known.add(target.created_seq)
        if target.id in ignore:
            continue
        if kind == 'ReadFlagChange':
            elements.append(t(kind, [t('ItemId', Id=target.id, ChangeKey=target.change_key),
                                     t('IsRead', target.text('IsRead'))]))
        else:
            elements.append(t(kind, [item_xml(target, shape)]))
    done = len(chosen) == len(changes)
    if done:
        since, sent = max(ctx.store.seq, since), set()
    else:  # older changes wait below the ones sent: the change number cannot move yet
        sent |= {seq for seq, _kind, _target in chosen}
    return operation_response('SyncFolderItems', [response_message('SyncFolderItems', children=[
        m('SyncState', syncstate.encode(folder.id, since, known, sent)),
        m('IncludesLastItemInRange', 'true' if done else 'false'),
        m('Changes', elements)])])


def error_tail():
    return [m('SyncState'), m('IncludesLastItemInRange', 'true')]


HANDLERS = {'SyncFolderItems': sync_folder_items}
