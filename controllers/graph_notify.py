"""Microsoft Graph change notifications for mail_sync (``/mail_sync/graph/notify``).

Microsoft first checks the URL with a validation request (``validationToken`` in the
query: answered with 200 and the token as plain text within 10 seconds). Then it POSTs
change and lifecycle notifications: each must name a subscription we hold and carry its
``clientState`` (compared in constant time with the encrypted one), else it is ignored.
A notification's content is never trusted: it only marks its subscription ``pending``,
which makes the mailbox's channel of that subscription due (incoming for mail folders,
act for events, contacts and tasks) and enqueues its cycle; the cycle reads the delta.
Answered 202 at once; the work is one small UPDATE.

Odoo 11 turns every ``application/json`` request into a JSON-RPC request, which an
``http`` route refuses, while Microsoft posts notifications as plain JSON and the
validation request as text to the same URL: for this one path only, requests stay
plain HTTP requests (``_plain_http_for_notifications``).
"""
import json
import logging

import psycopg2

import odoo
from odoo import http
from odoo.http import request

from ..models.mail_sync_graph_subscription import ROLE_CHANNEL

_logger = logging.getLogger(__name__)

MAX_BODY = 1024 * 1024  # Graph batches notifications; far below this
MAX_NOTIFICATIONS = 1000
LIFECYCLE = {'reauthorizationRequired': 'reauthorize', 'subscriptionRemoved': 'removed', 'missed': None}
NOTIFY_PATH = '/mail_sync/graph/notify'


def _plain_http_for_notifications(get_request):
    def wrapped(self, httprequest):
        if httprequest.path == NOTIFY_PATH:
            return http.HttpRequest(httprequest)
        return get_request(self, httprequest)
    wrapped.mail_sync_graph = True
    return wrapped


if not getattr(http.Root.get_request, 'mail_sync_graph', False):
    http.Root.get_request = _plain_http_for_notifications(http.Root.get_request)


class GraphNotifications(http.Controller):

    @http.route(NOTIFY_PATH, type='http', auth='none', methods=['POST'], csrf=False)
    def notify(self, **params):
        token = request.httprequest.args.get('validationToken')
        if token is not None:
            return http.Response(token, status=200, content_type='text/plain; charset=utf-8',
                                 headers=[('X-Content-Type-Options', 'nosniff')])
        body = request.httprequest.get_data(cache=False)
        if len(body) > MAX_BODY:
            return http.Response('', status=413)
        try:
            notifications = json.loads(body.decode('utf-8')).get('value')
        except (ValueError, AttributeError, UnicodeDecodeError):
            return http.Response('', status=400)
        if not isinstance(notifications, list):
            return http.Response('', status=400)
        db = request.db or http.db_monodb()
        if not db or not http.db_filter([db]):
            return http.Response('', status=404)
        accepted = apply_notifications(db, notifications[:MAX_NOTIFICATIONS])
        _logger.debug('mail_sync: %d of %d Graph notifications accepted', accepted, len(notifications))
        return http.Response('', status=202)


def apply_notifications(db, notifications):
    """Mark the subscriptions of genuine notifications pending; returns how many were."""
    wanted = {}
    for item in notifications:
        if isinstance(item, dict) and isinstance(item.get('subscriptionId'), str):
            wanted.setdefault(item['subscriptionId'], []).append(item)
    if not wanted:
        return 0
    registry = odoo.registry(db)
    for attempt in range(3):  # a concurrent notification for the same row: try again
        try:
            with registry.cursor() as cr:
                env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
                accepted = _apply(env, wanted)
                cr.commit()
                return accepted
        except psycopg2.extensions.TransactionRollbackError:
            continue
    return 0


def _apply(env, wanted):
    Subscription = env['mail.sync.graph.subscription']
    accepted, due = 0, set()
    for row in Subscription.search([('remote_id', 'in', list(wanted))]):
        states, genuine = set(), 0
        for item in wanted[row.remote_id]:
            if not row._client_state_matches(item.get('clientState')):
                _logger.warning('mail_sync: Graph notification with a wrong clientState for '
                                'subscription %s ignored', row.id)
                continue
            genuine += 1
            event = item.get('lifecycleEvent')
            if event in LIFECYCLE and LIFECYCLE[event]:
                states.add(LIFECYCLE[event])
        accepted += genuine
        if genuine:
            values = ['pending = TRUE', "notified_at = (now() at time zone 'UTC')"]
            params = []
            if states:
                values.append('state = %s')
                params.append('removed' if 'removed' in states else 'reauthorize')
            env.cr.execute('UPDATE mail_sync_graph_subscription SET ' + ', '.join(values)
                           + ' WHERE id = %s', params + [row.id])
            due.add((row.mailbox_id.id, ROLE_CHANNEL[row.role]))
    for mailbox_id, channel in sorted(due):
        mailbox = env['mail.sync.mailbox'].browse(mailbox_id)
        if mailbox._channel_state(channel).status == 'ok':
            mailbox._enqueue_cycle(channel)  # a job at once, not at the next poll
    return accepted
