"""The Graph v1.0 requests on contacts, To Do tasks and events (after ``users/{id}/``).

``handle(graph, box, method, rest, query, headers, body, grant)`` answers them, or
returns None for a path that is not one of these (api.py then goes on). Delta rounds
(``contactFolders/{id}/contacts/delta``, ``todo/lists/{id}/tasks/delta``,
``calendarView/delta?startDateTime&endDateTime``) page with ``@odata.nextLink``
(``$skiptoken``) and end with ``@odata.deltaLink`` (``$deltatoken``); tokens are kept
server side, so ``expire`` makes their next use a 410 as Graph answers a lost state.
A calendar view's round lists single events and the occurrences and exceptions of
series (``seriesMasterId``), never a series master, and ``@removed`` for each instance
that left the view since the last round (see ``PimDelta._view_page``).
"""
import datetime
import json
import re
import urllib.parse

from . import pim
from .api import DEFAULT_PAGE, Delta, GraphError, Reply, json_reply
from .store import new_id

SCOPES = {'contact': ('Contacts.ReadWrite', 'Contacts.Read'), 'task': ('Tasks.ReadWrite', 'Tasks.Read'),
          'event': ('Calendars.ReadWrite', 'Calendars.Read')}
WRITE_SCOPES = {kind: scopes[:1] for kind, scopes in SCOPES.items()}
_UID_FILTER = re.compile(r"^iCalUId eq '((?:[^']|'')*)'$")
ODATA_TYPE = {'contact': '#microsoft.graph.contact', 'task': '#microsoft.graph.todoTask',
              'event': '#microsoft.graph.event'}


def _need(grant, kind, write):
    if not grant.allows((WRITE_SCOPES if write else SCOPES)[kind]):
        raise GraphError(403, 'ErrorAccessDenied', 'Access is denied. Check credentials and try again.')


def _body(body):
    try:
        value = json.loads((body or b'{}').decode('utf-8'))
    except ValueError:
        raise GraphError(400, 'BadRequest', 'Unable to read JSON request payload.')
    if not isinstance(value, dict):
        raise GraphError(400, 'BadRequest', 'Unable to read JSON request payload.')
    return value


def _tz(headers):
    match = re.search(r'outlook\.timezone="([^"]+)"', (headers or {}).get('Prefer') or '')
    return match.group(1) if match else None


def _page_size(headers):
    match = re.search(r'odata\.maxpagesize=(\d+)', (headers or {}).get('Prefer') or '')
    return max(1, min(int(match.group(1)), 1000)) if match else None


def handle(graph, box, method, rest, query, headers, body, grant):
    lowered = [s.lower() for s in rest]
    store = graph.pim
    address = box.address
    if not lowered:
        return None
    head = lowered[0]
    if lowered == ['translateexchangeids'] and method == 'POST':
        return _translate(store, address, _body(body))
    if head == 'contactfolders':
        _need(grant, 'contact', False)
        if len(rest) == 1 and method == 'GET':
            folder = store.collection(address, 'contact')
            return json_reply(200, {'value': [_folder_json(folder)]})
        folder = store.collection(address, 'contact', rest[1])
        if lowered[2:] == [] and method == 'GET':
            return json_reply(200, _folder_json(folder))
        if lowered[2:] == ['contacts', 'delta'] and method == 'GET':
            return graph.pim_delta.page(box, folder, '/'.join(['contactFolders', folder.id, 'contacts', 'delta']),
                                        query, headers)
        if lowered[2:] == ['contacts']:
            return _items(graph, box, folder, method, query, headers, body, grant)
        raise GraphError(400, 'BadRequest', 'Unsupported segment.')
    if head == 'contacts':
        folder = store.collection(address, 'contact')
        if len(rest) == 1:
            return _items(graph, box, folder, method, query, headers, body, grant)
        if len(rest) == 2:
            return _item(graph, box, folder, rest[1], method, headers, body, grant)
    if lowered[:2] == ['todo', 'lists']:
        _need(grant, 'task', False)
        if len(rest) == 2 and method == 'GET':
            lists = sorted(store.box(address)['lists'].values(), key=lambda c: c.well_known != 'defaultList')
            return json_reply(200, {'value': [_list_json(c) for c in lists]})
        if len(rest) == 2 and method == 'POST':
            _need(grant, 'task', True)
            name = _body(body).get('displayName')
            if not name:
                raise GraphError(400, 'invalidRequest', 'displayName is required.')
            created = pim.Collection('task', name)
            with store.lock:
                store.box(address)['lists'][created.id] = created
            return json_reply(201, _list_json(created))
        task_list = store.collection(address, 'task', rest[2])
        tail = lowered[3:]
        if tail == [] and method == 'GET':
            return json_reply(200, _list_json(task_list))
        if tail == ['tasks', 'delta'] and method == 'GET':
            return graph.pim_delta.page(box, task_list, '/'.join(['todo', 'lists', task_list.id, 'tasks', 'delta']),
                                        query, headers)
        if tail == ['tasks']:
            return _items(graph, box, task_list, method, query, headers, body, grant)
        if len(tail) == 2 and tail[0] == 'tasks':
            return _item(graph, box, task_list, rest[4], method, headers, body, grant)
        raise GraphError(400, 'BadRequest', 'Unsupported segment.')
    if head == 'calendarview':
        _need(grant, 'event', False)
        calendar = store.collection(address, 'event')
        if lowered[1:] == ['delta'] and method == 'GET':
            return graph.pim_delta.page(box, calendar, 'calendarView/delta', query, headers)
        raise GraphError(400, 'BadRequest', 'Unsupported segment.')
    if head in ('events', 'calendar') and not (head == 'calendar' and lowered[1:2] != ['events']):
        if head == 'calendar':
            rest, lowered = rest[1:], lowered[1:]
        calendar = store.collection(address, 'event')
        if len(rest) == 1:
            return _items(graph, box, calendar, method, query, headers, body, grant)
        if len(rest) == 2:
            return _item(graph, box, calendar, rest[1], method, headers, body, grant)
        if len(rest) == 3 and lowered[2] == 'instances' and method == 'GET':
            _need(grant, 'event', False)
            start, end = _instant(query.get('startDateTime')), _instant(query.get('endDateTime'))
            if start is None or end is None:
                raise GraphError(400, 'ErrorInvalidParameter', 'This request requires a time window specified '
                                 'by the query string parameters StartDateTime and EndDateTime.')
            return json_reply(200, {'value': store.instances(address, rest[1], start, end)})
        if len(rest) == 3 and lowered[2] == 'cancel' and method == 'POST':
            _need(grant, 'event', True)
            item = calendar.item(rest[1])
            if not item.props.get('isOrganizer'):
                raise GraphError(400, 'ErrorAccessDenied', 'Your request can\'t be completed. You need to be '
                                                           'an organizer to cancel a meeting.')
            store.delete_event(address, rest[1])
            return Reply(202, {}, b'')
    return None


ID_TYPES = ('entryId', 'ewsId', 'immutableEntryId', 'restId', 'restImmutableEntryId')


def _translate(store, address, payload):
    """POST translateExchangeIds: EWS ids of this mailbox's items as REST ids (the ids the
    test registered with ``map_exchange_id``; an id unknown to the mailbox is left out)."""
    ids = payload.get('inputIds')
    if not isinstance(ids, list) or not ids or len(ids) > 1000:
        raise GraphError(400, 'ErrorInvalidParameter', 'inputIds must hold 1 to 1000 ids.')
    if payload.get('sourceIdType') not in ID_TYPES or payload.get('targetIdType') not in ID_TYPES:
        raise GraphError(400, 'ErrorInvalidParameter', 'sourceIdType and targetIdType must be exchangeIdFormat '
                                                       'values.')
    known = store.box(address).get('exchange_ids', {})
    return json_reply(200, {'value': [{'sourceId': source, 'targetId': known[source]}
                                      for source in ids if source in known]})


def _folder_json(folder):
    return {'id': folder.id, 'displayName': folder.display_name, 'parentFolderId': None}


def _list_json(task_list):
    return {'@odata.etag': 'W/"%s"' % task_list.id, 'id': task_list.id, 'displayName': task_list.display_name,
            'isOwner': True, 'isShared': False, 'wellknownListName': task_list.well_known or 'none'}


def _check(kind, props, create):
    if kind == 'contact':
        pim.check_contact(props)
    elif kind == 'task':
        pim.check_task(props, create)
    else:
        pim.check_event(props, create)


def _items(graph, box, collection, method, query, headers, body, grant):
    kind = collection.kind
    if method == 'GET':
        _need(grant, kind, False)
        with graph.pim.lock:
            rows = sorted(collection.items.values(), key=lambda i: i.seq)
            if query.get('$filter'):
                match = _UID_FILTER.match(query['$filter'])
                if not match or kind != 'event':
                    raise GraphError(400, 'ErrorInvalidUrlQueryFilter', 'The query filter is not supported.')
                rows = [i for i in rows if i.props.get('iCalUId') == match.group(1).replace("''", "'")]
            top = int(query.get('$top') or DEFAULT_PAGE)
            return json_reply(200, {'value': [pim.render(i, _tz(headers)) for i in rows[:top]]})
    if method == 'POST':
        _need(grant, kind, True)
        props = _body(body)
        _check(kind, props, True)
        props.pop('@odata.type', None)
        if kind == 'event':
            item, _new = graph.pim.create_event(box.address, props)
        else:
            if kind == 'task':
                props.setdefault('status', 'notStarted')
                props.setdefault('importance', 'normal')
            item = graph.pim.create(box.address, collection, props)
        return json_reply(201, pim.render(item, _tz(headers)))
    raise GraphError(405, 'ErrorInvalidRequest', 'The OData request is not supported.')


def _item(graph, box, collection, item_id, method, headers, body, grant):
    kind = collection.kind
    if method == 'GET':
        _need(grant, kind, False)
        with graph.pim.lock:
            return json_reply(200, pim.render(collection.item(item_id), _tz(headers)))
    _need(grant, kind, True)
    if method == 'PATCH':
        props = _body(body)
        _check(kind, props, False)
        props.pop('@odata.type', None)
        if kind == 'event':
            if 'transactionId' in props:
                raise GraphError(400, 'ErrorInvalidPropertyUpdate', 'transactionId is set at creation only.')
            item = graph.pim.update_event(box.address, item_id, props, headers.get('If-Match'))
        else:
            if kind == 'task' and 'status' in props:
                props['completedDateTime'] = {'dateTime': datetime.datetime.utcnow().strftime(pim.GRAPH_TIME),
                                              'timeZone': 'UTC'} if props['status'] == 'completed' else None
            item = graph.pim.update(box.address, collection, item_id, props, headers.get('If-Match'))
        return json_reply(200, pim.render(item, _tz(headers)))
    if method == 'DELETE':
        if kind == 'event':
            graph.pim.delete_event(box.address, item_id)
        else:
            graph.pim.delete(box.address, collection, item_id)
        return Reply(204, {}, b'')
    raise GraphError(405, 'ErrorInvalidRequest', 'The OData request is not supported.')


def _instant(text):
    if not text:
        return None
    value = pim.parse_local(text)
    return value.replace(tzinfo=pim.UTC)


class PimDelta(Delta):
    """Delta rounds of contact folders, To Do lists and calendar views (tokens kept and
    expired as a mail folder's)."""

    def page(self, box, collection, path, query, headers):
        store = self.graph.pim
        if '$skiptoken' in query:
            state = self.skip.get(query['$skiptoken'])
        elif '$deltatoken' in query:
            state = self.delta.get(query['$deltatoken'])
            if state is not None:
                state = dict(state, upto=store.current_seq(), after=(0, ''), rows=None)
        else:
            window = None
            if collection.kind == 'event':
                start, end = _instant(query.get('startDateTime')), _instant(query.get('endDateTime'))
                if start is None or end is None:
                    raise GraphError(400, 'ErrorInvalidParameter', 'This request requires a time window '
                                     'specified by the query string parameters StartDateTime and EndDateTime.')
                window = (start, end)
            state = {'address': box.address.lower(), 'collection': collection.id, 'since': 0,
                     'upto': store.current_seq(), 'after': (0, ''), 'window': window, 'tz': _tz(headers),
                     'known': frozenset(), 'rows': None}
        if state is None or state['collection'] != collection.id:
            raise GraphError(410, 'syncStateNotFound', 'The sync state generation is not found. The delta '
                                                       'token is expired and data must be synchronized again.')
        size = _page_size(headers) or DEFAULT_PAGE
        if collection.kind == 'event':
            value, state, more = self._view_page(box, state, size, _tz(headers))
        else:
            value, state, more = self._item_page(collection, state, size, _tz(headers))
        base = '%s/v1.0/users/%s/%s' % (self.graph.url_base, urllib.parse.quote(box.id), path)
        payload = {'value': value}
        if more:
            token = new_id('sk')
            self.skip[token] = state
            payload['@odata.nextLink'] = base + '?$skiptoken=' + token
        else:
            token = new_id('dt')
            self.delta[token] = state
            payload['@odata.deltaLink'] = base + '?$deltatoken=' + token
        return json_reply(200, payload)

    def _item_page(self, collection, state, size, tz_name):
        """A page of a contact folder's or To Do list's round: the items changed since
        the last round, tombstones as ``@removed``."""
        store = self.graph.pim
        rows, more = store.changes(collection, state['since'], state['upto'], state['after'], size)
        value = []
        with store.lock:
            for _seq, item_id, item in rows:
                if item is None:
                    value.append({'@odata.type': ODATA_TYPE[collection.kind], 'id': item_id,
                                  '@removed': {'reason': 'deleted'}})
                else:
                    entry = pim.render(item, tz_name or state['tz'])
                    entry['@odata.type'] = ODATA_TYPE[collection.kind]
                    value.append(entry)
        if more:
            return value, dict(state, after=(rows[-1][0], rows[-1][1])), True
        return value, dict(state, since=state['upto']), False

    def _view_page(self, box, state, size, tz_name):
        """A page of a calendar view's round, as Graph lists it: single events,
        occurrences and exceptions of series (never a series master) that are new to the
        view or changed since the last round, then ``@removed`` for each instance the last
        round listed that the view no longer holds (deleted, cancelled, a series deleted or
        its pattern changed, moved out of the window). The round is fixed when it starts."""
        if state['rows'] is None:
            view = self.graph.pim.view(box.address, state['window'], tz_name or state['tz'])
            changed = sorted((seq, item_id) for item_id, (seq, _entry) in view.items()
                             if item_id not in state['known'] or seq > state['since'])
            rows = [dict(view[item_id][1], **{'@odata.type': ODATA_TYPE['event']}) for _seq, item_id in changed]
            rows += [{'@odata.type': ODATA_TYPE['event'], 'id': item_id, '@removed': {'reason': 'deleted'}}
                     for item_id in sorted(state['known'] - set(view))]
            state = dict(state, rows=rows, offset=0, next_known=frozenset(view))
        offset = state['offset']
        value = state['rows'][offset:offset + size]
        if offset + size < len(state['rows']):
            return value, dict(state, offset=offset + size), True
        return value, dict(state, since=state['upto'], known=state['next_known'], rows=None), False
