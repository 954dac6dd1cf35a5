"""GetFolder, FindFolder and CreateFolder."""
from ..shapes import Shape, folder_xml
from ..soap import local, m, mq, operation_response, response_message, t, tq
from ..store import StoreError


def get_folder(ctx, op):
    shape = Shape(op.find(mq('FolderShape')))
    messages = []
    for elem in op.find(mq('FolderIds')):
        try:
            folder = ctx.folder(elem)
        except StoreError as exc:
            messages.append(response_message('GetFolder', exc.code, exc.text))
            continue
        xml = folder_xml(folder, ctx.mailbox, shape)
        messages.append(response_message('GetFolder', children=[m('Folders', [xml])]))
    return operation_response('GetFolder', messages)


def _descendants(mailbox, folder, deep):
    for child in mailbox.folders.values():
        if child.parent is folder:
            yield child
            if deep:
                for grandchild in _descendants(mailbox, child, deep):
                    yield grandchild


def page(op, view_tag, elements):
    """Apply an IndexedPage*View; return (page, attributes for the RootFolder element)."""
    view = op.find(mq(view_tag))
    offset, limit = 0, len(elements)
    if view is not None:
        offset = int(view.get('Offset', '0'))
        if view.get('BasePoint') == 'End':
            offset = max(0, len(elements) - offset - int(view.get('MaxEntriesReturned', limit)))
        limit = int(view.get('MaxEntriesReturned', limit))
    chosen = elements[offset:offset + limit]
    end = offset + len(chosen)
    attrs = {'IndexedPagingOffset': str(end), 'TotalItemsInView': str(len(elements)),
             'IncludesLastItemInRange': 'true' if end >= len(elements) else 'false'}
    return chosen, attrs


def find_folder(ctx, op):
    shape = Shape(op.find(mq('FolderShape')))
    deep = op.get('Traversal') == 'Deep'
    messages = []
    for elem in op.find(mq('ParentFolderIds')):
        try:
            parent = ctx.folder(elem)
        except StoreError as exc:
            messages.append(response_message('FindFolder', exc.code, exc.text))
            continue
        found = [folder_xml(f, ctx.mailbox, shape) for f in _descendants(ctx.mailbox, parent, deep)]
        chosen, attrs = page(op, 'IndexedPageFolderView', found)
        root = m('RootFolder', [t('Folders', chosen)], **attrs)
        messages.append(response_message('FindFolder', children=[root]))
    return operation_response('FindFolder', messages)


def create_folder(ctx, op):
    try:
        parent = ctx.folder(op.find(mq('ParentFolderId'))[0])
    except StoreError as exc:
        parent = exc
    messages = []
    for elem in op.find(mq('Folders')):
        try:
            if isinstance(parent, StoreError):
                raise parent
            name = elem.findtext(tq('DisplayName'))
            if not name:
                raise StoreError('ErrorInvalidFolderId', 'A folder needs a DisplayName.')
            if any(f.parent is parent and f.name.lower() == name.lower()
                   for f in ctx.mailbox.folders.values()):
                raise StoreError('ErrorFolderExists', 'A folder with the specified name already exists.')
            folder_class = elem.findtext(tq('FolderClass')) or {
                'CalendarFolder': 'IPF.Appointment', 'ContactsFolder': 'IPF.Contact',
                'TasksFolder': 'IPF.Task'}.get(local(elem), 'IPF.Note')
            folder_id = ctx.store.create_folder(ctx.mailbox.address, name, parent.id, folder_class)
        except StoreError as exc:
            messages.append(response_message('CreateFolder', exc.code, exc.text))
            continue
        folder = ctx.mailbox.folders[folder_id]
        created = t(folder.element_name, [t('FolderId', Id=folder.id, ChangeKey=folder.change_key)])
        messages.append(response_message('CreateFolder', children=[m('Folders', [created])]))
    return operation_response('CreateFolder', messages)


HANDLERS = {'GetFolder': get_folder, 'FindFolder': find_folder, 'CreateFolder': create_folder}
