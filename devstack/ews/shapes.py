"""Folder and item XML as EWS returns it, following the request's shape.

A shape is a BaseShape (IdOnly, Default, AllProperties) plus AdditionalProperties
naming fields by FieldURI (``item:Subject`` gives ``t:Subject``) or
IndexedFieldURI (``contacts:EmailAddress`` with FieldIndex ``EmailAddress1``
gives the matching entry of ``t:EmailAddresses``). MimeContent is only sent when
asked for, as Exchange does: the bytes as delivered (Exchange would regenerate
them from its own copy; clients must not rely on byte equality there), or for a
draft the MIME it would be sent with. Items other than messages have none here.
"""
import base64
import copy

from .delivery import build_mime
from .soap import local, t, tq
from .store import ews_datetime

# Schema order of ItemType and MessageType; the remaining fields follow in the order
# the client gave them (exchangelib sends them in schema order).
ITEM_ORDER = (
    'MimeContent', 'ItemId', 'ParentFolderId', 'ItemClass', 'Subject', 'Sensitivity', 'Body',
    'Attachments', 'DateTimeReceived', 'Size', 'Categories', 'Importance', 'InReplyTo',
    'IsSubmitted', 'IsDraft', 'IsFromMe', 'IsResend', 'IsUnmodified', 'InternetMessageHeaders',
    'DateTimeSent', 'DateTimeCreated', 'ReminderDueBy', 'ReminderIsSet',
    'ReminderMinutesBeforeStart', 'DisplayCc', 'DisplayTo', 'HasAttachments', 'Culture',
    'LastModifiedName', 'LastModifiedTime', 'IsAssociated', 'ConversationId', 'TextBody',
    'Sender', 'ToRecipients', 'CcRecipients', 'BccRecipients', 'IsReadReceiptRequested',
    'IsDeliveryReceiptRequested', 'ConversationIndex', 'ConversationTopic', 'From',
    'InternetMessageId', 'IsRead', 'IsResponseRequested', 'References', 'ReplyTo',
    'ReceivedBy', 'ReceivedRepresenting')
DEFAULT_ITEM_FIELDS = {'ItemId', 'ParentFolderId', 'ItemClass', 'Subject', 'Sensitivity',
                       'DateTimeReceived', 'Size', 'Categories', 'Importance', 'HasAttachments',
                       'DateTimeSent', 'DateTimeCreated', 'Sender', 'ToRecipients', 'From',
                       'InternetMessageId', 'IsRead', 'Start', 'End', 'Location', 'DisplayName',
                       'GivenName', 'Surname', 'EmailAddresses', 'Status', 'DueDate'}
INDEXED = {'contacts:EmailAddress': 'EmailAddresses', 'contacts:PhoneNumber': 'PhoneNumbers',
           'contacts:ImAddress': 'ImAddresses'}
# Parts of an indexed entry: contacts:PhysicalAddress:Street with FieldIndex Business...
INDEXED_PARTS = {'contacts:PhysicalAddress:%s' % part: ('PhysicalAddresses', part)
                 for part in ('Street', 'City', 'State', 'CountryOrRegion', 'PostalCode')}
FOLDER_FIELDS = ('FolderId', 'ParentFolderId', 'FolderClass', 'DisplayName', 'TotalCount',
                 'ChildFolderCount', 'UnreadCount')


class Shape(object):
    """What a FolderShape or ItemShape element asks for."""

    def __init__(self, elem):
        self.base = 'AllProperties'
        self.names = set()
        self.indexed = {}  # element name -> set of keys
        self.mime = False
        if elem is None:
            return
        base = elem.find(tq('BaseShape'))
        if base is not None:
            self.base = (base.text or '').strip()
        self.mime = (elem.findtext(tq('IncludeMimeContent')) or '').strip() in ('true', '1')
        props = elem.find(tq('AdditionalProperties'))
        for prop in (props if props is not None else ()):
            uri = prop.get('FieldURI')
            if local(prop) == 'FieldURI' and uri:
                self.names.add(uri.split(':', 1)[1])
            elif local(prop) == 'IndexedFieldURI' and uri in INDEXED:
                self.indexed.setdefault(INDEXED[uri], set()).add(prop.get('FieldIndex'))
            elif local(prop) == 'IndexedFieldURI' and uri in INDEXED_PARTS:
                self.indexed.setdefault(INDEXED_PARTS[uri][0], set()).add(prop.get('FieldIndex'))
        if 'MimeContent' in self.names:
            self.mime = True

    def wants(self, name):
        if name in self.names or name in self.indexed:
            return True
        if self.base == 'AllProperties':
            return name != 'MimeContent'
        if self.base == 'Default':
            return name in DEFAULT_ITEM_FIELDS or name in FOLDER_FIELDS
        return False


def id_elem(tag, obj_id, change_key):
    return t(tag, Id=obj_id, ChangeKey=change_key)


def folder_xml(folder, mailbox, shape):
    children = list(mailbox.folders.values())
    values = {
        'ParentFolderId': (id_elem('ParentFolderId', folder.parent.id, folder.parent.change_key)
                           if folder.parent else None),
        'FolderClass': t('FolderClass', folder.folder_class) if folder.folder_class else None,
        'DisplayName': t('DisplayName', folder.name),
        'TotalCount': t('TotalCount', len(folder.items)),
        'ChildFolderCount': t('ChildFolderCount', sum(1 for f in children if f.parent is folder)),
        'UnreadCount': t('UnreadCount', sum(1 for item in folder.items.values()
                                            if item.text('IsRead') == 'false')),
    }
    elem = t(folder.element_name, [id_elem('FolderId', folder.id, folder.change_key)])
    for name in FOLDER_FIELDS[1:]:
        if shape.wants(name) and values[name] is not None:
            elem.append(values[name])
    return elem


def computed_values(item):
    """Every property of ``item`` by local name: the stored ones and those the server computes."""
    values = {
        'ItemId': id_elem('ItemId', item.id, item.change_key),
        'ParentFolderId': id_elem('ParentFolderId', item.folder.id, item.folder.change_key),
        'DateTimeCreated': t('DateTimeCreated', ews_datetime(item.created)),
        'LastModifiedTime': t('LastModifiedTime', ews_datetime(item.modified)),
        'Size': t('Size', len(item.mime) if item.mime else 0),
    }
    if item.kind == 'Message':
        values['DateTimeReceived'] = t('DateTimeReceived', ews_datetime(item.created))
        body = item.fields.get('Body')
        if body is not None and body.get('BodyType') == 'Text':
            values['TextBody'] = t('TextBody', body.text, BodyType='Text')
    mime = item.mime
    if mime is None and item.kind == 'Message':  # a draft: its MIME as it would be sent now
        mime = build_mime(item, item.folder.owner)
    if mime is not None:
        values['MimeContent'] = t('MimeContent', base64.b64encode(mime).decode('ascii'),
                                  CharacterSet='UTF-8')
    for name, elem in item.fields.items():
        if name not in ('ItemId', 'ParentFolderId', 'MimeContent', 'Size'):
            values[name] = elem
    if item.kind == 'CalendarItem':
        from .calendar_items import computed
        values.update(computed(item))
    return values


def item_xml(item, shape):
    values = computed_values(item)
    names = [n for n in ITEM_ORDER if n in values] + [n for n in values if n not in ITEM_ORDER]
    out = t(item.kind)
    for name in names:
        if name == 'ItemId':
            out.append(copy.deepcopy(values[name]))
        elif name == 'MimeContent':
            if shape.mime:
                out.append(values[name])
        elif name in shape.indexed and shape.base == 'IdOnly':
            keys = shape.indexed[name]
            entries = [copy.deepcopy(e) for e in values[name] if e.get('Key') in keys]
            if entries:
                out.append(t(name, entries))
        elif shape.wants(name):
            out.append(copy.deepcopy(values[name]))
    return out
