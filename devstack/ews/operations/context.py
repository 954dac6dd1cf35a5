"""Who is calling, on whose mailbox, and the id look-ups every operation needs."""
from .. import calendar_items
from ..soap import local, tq
from ..store import StoreError


class Context(object):
    """One request: the store and the mailbox it acts on.

    ``mailbox`` is the impersonated mailbox when the request carries an
    ExchangeImpersonation header, else the caller's own. Only that mailbox may be
    touched: anything else is ErrorAccessDenied, as for a user without delegate
    rights.
    """

    def __init__(self, store, mailbox):
        self.store = store
        self.mailbox = mailbox

    def _own(self, mailbox):
        if mailbox is not self.mailbox:
            raise StoreError('ErrorAccessDenied', 'Access is denied. Check credentials and try again.')

    def folder(self, elem):
        """A FolderId or DistinguishedFolderId element -> Folder of our mailbox."""
        if local(elem) == 'DistinguishedFolderId':
            address = elem.find('%s/%s' % (tq('Mailbox'), tq('EmailAddress')))
            mailbox = self.mailbox
            if address is not None and address.text:
                mailbox = self.store.mailbox(address.text.strip())
            self._own(mailbox)
            key = elem.get('Id')
            if key not in mailbox.by_name:
                raise StoreError('ErrorFolderNotFound',
                                 'The specified folder could not be found in the store.')
            return mailbox.by_name[key]
        folder_id = elem.get('Id')
        for mailbox in self.store.mailboxes.values():
            if folder_id in mailbox.folders:
                self._own(mailbox)
                return mailbox.folders[folder_id]
        raise StoreError('ErrorFolderNotFound', 'The specified folder could not be found in the store.')

    def item(self, elem):
        """An ItemId, OccurrenceItemId or RecurringMasterItemId element -> Item of our
        mailbox (an occurrence is a calendar_items.Occurrence)."""
        kind = local(elem)
        if kind == 'OccurrenceItemId':
            master = self.store.find_item(elem.get('RecurringMasterId'))
            try:
                index = int(elem.get('InstanceIndex'))
            except (TypeError, ValueError):
                raise StoreError('ErrorInvalidIdMalformed', 'InstanceIndex is invalid.')
            item = calendar_items.occurrence_by_index(master, index)
        elif kind == 'RecurringMasterItemId':
            item = self.store.find_item(elem.get('OccurrenceId'))
            if isinstance(item, calendar_items.Occurrence):
                item = item.master
            elif not calendar_items.is_master(item):
                raise StoreError('ErrorItemNotFound', 'The item is not part of a recurring series.')
        else:
            item = self.store.find_item(elem.get('Id'))
        self._own(self.store.mailbox(item.folder.owner))
        return item
