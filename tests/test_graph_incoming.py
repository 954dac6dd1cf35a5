"""Incoming email from Microsoft 365 through Microsoft Graph (our Graph endpoint over
HTTPS): first sync, a rerun that is one request per folder, Sent Items, a lost delta
state recovered without duplicates, the category both ways, the size limit, a busy
server honoured without sleeping, Test & Enable."""
import datetime
import itertools
import urllib.parse
import uuid

import pytest

from odoo import fields
from odoo.exceptions import ValidationError

from ..sync.errors import TransientError
from .common import MailSyncCase
from .test_incoming import raw_mail

_numbers = itertools.count()
_RUN = uuid.uuid4().hex[:8]
CATEGORY = 'Tracked to Odoo'


@pytest.fixture(scope='class')
def graph_on_class(request, graph_server, oauth_server):
    """The Graph endpoint checks bearer tokens by introspection at the OAuth test server."""
    request.cls.graph = graph_server
    request.cls.oauth = oauth_server
    introspect_oauth(graph_server, oauth_server)


def introspect_oauth(graph_server, oauth_server):
    """Make the Graph endpoint a resource server of ``oauth_server`` (RFC 7662)."""
    secret = 'graph-rs-secret'
    oauth_server.authority.add_client('graph-resource-server', secret)
    graph_server.set_introspection(oauth_server.http_url + '/introspect', 'graph-resource-server', secret)


def graph_profile_values(oauth_server, graph_server, client_id, secret):
    """A Microsoft 365 profile with app-only OAuth 2.0 (client credentials) at the test server."""
    return {'server_type': 'graph', 'graph_url': graph_server.url, 'auth_method': 'oauth',
            'oauth_provider': 'oidc', 'oauth_issuer': oauth_server.issuer, 'oauth_client_id': client_id,
            'oauth_secret': secret, 'oauth_token_mode': 'app', 'oauth_scopes': 'Mail.ReadWrite Mail.Send',
            'credential_mode': 'profile'}


def new_graph_client(oauth_server, scopes=('Mail.ReadWrite', 'Mail.Send')):
    client_id = 'graph-app-%d-%s' % (next(_numbers), _RUN)
    secret = 'secret-' + uuid.uuid4().hex
    oauth_server.authority.add_client(client_id, secret, app_scopes=list(scopes))
    return client_id, secret


@pytest.mark.usefixtures('graph_on_class')
class GraphCase(MailSyncCase):
    """MailSyncCase with ``self.graph`` (the Graph endpoint), ``self.oauth`` (the OAuth
    server) and Microsoft 365 profiles whose app-only tokens come from that server."""

    def new_graph_address(self):
        address = 'm365-%d-%s@example.test' % (next(_numbers), _RUN)
        self.graph.add_mailbox(address)
        return address

    def make_graph_server(self, scopes=('Mail.ReadWrite', 'Mail.Send'), **values):
        client_id, secret = new_graph_client(self.oauth, scopes)
        vals = dict(graph_profile_values(self.oauth, self.graph, client_id, secret),
                    name='Microsoft 365 test', timeout=10)
        vals.update(values)
        return self.Server.sudo(self.manager).create(vals)

    def make_graph_mailbox(self, user, server, **values):
        address = self.new_graph_address()
        vals = {'user_id': user.id, 'server_id': server.id, 'email': address}
        vals.update(values)
        return self.Mailbox.sudo(self.manager).create(vals)

    def requests_of(self, address, since=0):
        return [urllib.parse.unquote(r.url) for r in self.graph.requests[since:]
                if r.mailbox == address.lower() and not r.batch]


class TestGraphIncoming(GraphCase):

    def setUp(self):
        super(TestGraphIncoming, self).setUp()
        self.server = self.make_graph_server()
        self.rep = self.make_user('rep')
        self.box = self.make_graph_mailbox(self.rep, self.server)
        self.box.sudo(self.manager).action_test_enable()
        self.assertEqual(self.box.state, 'enabled', self.box.incoming_test_message)
        self.customer = self.env['res.partner'].create({'name': 'Known Customer',
                                                        'email': 'known@customer.test'})
        self.odoo_mail = self.customer.message_post(body='Our quote', subject='Quote',
                                                    message_type='comment')
        self.Ledger = self.env['mail.sync.ledger']
        self.Message = self.env['mail.message']

    def deliver(self, raw, folder='inbox', categories=()):
        return self.graph.deliver(self.box.email, raw, folder, categories)

    def standard_mail(self):
        return [
            self.deliver(raw_mail('Stranger <new@unknown.test>', 'Re: Quote', '<g-reply-1-%s@unknown.test>'
                                  % _RUN, self.odoo_mail.message_id)),
            self.deliver(raw_mail('Known <known@customer.test>', 'Question', '<g-q-1-%s@customer.test>' % _RUN)),
            self.deliver(raw_mail('Spam <spam@unknown.test>', 'Offer', '<g-offer-1-%s@unknown.test>' % _RUN)),
        ]

    def ledger(self):
        return self.Ledger.search([('mailbox_id', '=', self.box.id)], order='id')

    def folder(self, role='inbox'):
        return self.env['mail.sync.folder'].search([('mailbox_id', '=', self.box.id), ('role', '=', role)])

    def test_first_sync_then_rerun_is_one_request(self):
        ids = self.standard_mail()
        stats = self.box._sync_incoming()
        self.assertEqual(stats, {'imported': 1, 'linked': 0, 'indexed': 2, 'quarantined': 0, 'remaining': 0})
        rows = self.ledger()
        self.assertEqual([(r.item_id, r.folder, r.state, r.track_reason) for r in rows],
                         [(ids[0], 'inbox', 'imported', 'reply'), (ids[1], 'inbox', 'indexed', False),
                          (ids[2], 'inbox', 'indexed', False)])
        reply = rows[0].mail_message_id
        self.assertEqual((reply.model, reply.res_id, reply.parent_id),
                         ('res.partner', self.customer.id, self.odoo_mail))
        self.assertIn('$deltatoken=', self.folder().sync_state)
        # A rerun: one delta request for the folder, nothing fetched, nothing imported.
        mark, messages = len(self.graph.requests), self.Message.search_count([])
        self.assertEqual(self.box._sync_incoming(), dict.fromkeys(stats, 0))
        seen = self.requests_of(self.box.email, mark)
        self.assertEqual(len(seen), 1, seen)
        self.assertIn('/messages/delta?$deltatoken=', seen[0])
        self.assertEqual((self.ledger(), self.Message.search_count([])), (rows, messages))
        self.deliver(raw_mail('Stranger <new@unknown.test>', 'Re: Quote again', '<g-reply-2-%s@unknown.test>'
                              % _RUN, self.odoo_mail.message_id))
        self.assertEqual(self.box._sync_incoming()['imported'], 1)
        self.assertEqual(len(self.ledger()), 4)

    def test_sent_items_tracked_one_request_per_folder(self):
        self.rep.write({'mail_sync_track': 'contacts', 'mail_sync_track_sent': True})
        self.standard_mail()
        sent = self.deliver(raw_mail('Rep <%s>' % self.box.email, 'Proposal', '<g-sent-1-%s@company.test>' % _RUN,
                                     to='Known <known@customer.test>'), folder='sentitems')
        self.assertEqual(self.box._sync_incoming()['imported'], 3)
        row = self.Ledger.search([('item_id', '=', sent)])
        self.assertEqual((row.sent, row.state, row.track_reason, row.folder),
                         (True, 'imported', 'known_sender', 'sentitems'))
        mark = len(self.graph.requests)
        self.box._sync_incoming()
        self.assertEqual(len(self.requests_of(self.box.email, mark)), 2)

    def test_lost_delta_state_recovered_without_duplicates(self):
        self.standard_mail()
        stats = self.box._sync_incoming()
        rows, state = self.ledger(), self.folder().sync_state
        self.graph.expire_delta(self.box.email)
        self.deliver(raw_mail('Stranger <new@unknown.test>', 'Re: Quote later', '<g-reply-3-%s@unknown.test>'
                              % _RUN, self.odoo_mail.message_id))
        mark = len(self.graph.requests)
        self.assertEqual(self.box._sync_incoming()['imported'], 1)
        fetched = [u for u in self.requests_of(self.box.email, mark) if '$batch' in u or '$value' in u]
        self.assertEqual(len(fetched), 1, 'only the new message is fetched')
        self.assertEqual(len(self.ledger()), 4)
        self.assertEqual(self.ledger()[:3], rows)
        self.assertEqual(self.Message.search_count([('message_id', 'like', '<g-reply-%-' + _RUN + '%')]), 2)
        self.assertEqual(self.Log.search_count([('mailbox_id', '=', self.box.id),
                                                ('code', '=', 'sync_state_reset')]), 1)
        self.assertNotEqual(self.folder().sync_state, state)
        self.assertEqual(self.box._sync_incoming(), dict.fromkeys(stats, 0))

    def test_moved_message_known_by_internet_message_id(self):
        ids = self.standard_mail()
        self.box._sync_incoming()
        # A message that comes back under a new id (moved away and back) is re-pointed.
        moved = self.graph.move(self.box.email, ids[1], 'deleteditems')
        back = self.graph.move(self.box.email, moved, 'inbox')
        self.assertEqual(self.box._sync_incoming(), dict.fromkeys(
            ('imported', 'linked', 'indexed', 'quarantined', 'remaining'), 0))
        self.assertEqual(len(self.ledger()), 3)
        self.assertEqual(self.ledger()[1].item_id, back)

    def test_category_tracks_both_ways(self):
        ids = self.standard_mail()
        self.box._sync_incoming()
        spam = self.Ledger.search([('item_id', '=', ids[2])])
        self.assertEqual(spam.state, 'indexed')
        self.graph.set_categories(self.box.email, ids[2], ['Red', CATEGORY])
        self.box._sync_incoming()
        self.assertEqual((spam.state, spam.track_reason, spam.ews_tagged), ('imported', 'category', True))
        self.graph.set_categories(self.box.email, ids[2], ['Red'])
        self.box._sync_incoming()
        self.assertFalse(spam.ews_tagged)
        self.assertNotEqual(spam.state, 'imported')
        # Track in Odoo sets the category on the message in Microsoft 365.
        question = self.Ledger.search([('item_id', '=', ids[1])])
        question.sudo(self.rep).action_track()
        self.run_jobs('mail_sync.track.%')
        self.assertIn(CATEGORY, dict((i, c) for i, _m, c in self.graph.contents(self.box.email))[ids[1]])
        self.assertTrue(question.ews_tagged)

    def test_size_limit_uses_the_size_property(self):
        self.server.max_message_mb = 1
        big = raw_mail('Known <known@customer.test>', 'Huge', '<g-big-%s@customer.test>' % _RUN) + \
            b'x' * (1024 * 1024 + 10)
        item = self.deliver(big)
        mark = len(self.graph.requests)
        stats = self.box._sync_incoming()
        self.assertEqual(stats['quarantined'], 1)
        row = self.Ledger.search([('item_id', '=', item)])
        self.assertEqual((row.state, row.size), ('quarantined', len(big)))
        self.assertIn('maximum email size', row.error)
        self.assertFalse([u for u in self.requests_of(self.box.email, mark) if '$batch' in u or '$value' in u],
                         'a message above the limit is not downloaded')

    def test_busy_server_honoured_per_mailbox_without_sleeping(self):
        self.standard_mail()
        self.graph.inject(429, retry_after=1800, match=self.box.email)
        mark = len(self.graph.requests)
        self.assertIsNone(self.box._run_incoming_cycle())
        self.assertEqual(len(self.requests_of(self.box.email, mark)), 1, 'refused once, not retried')
        self.assertEqual(self.box.incoming_status, 'retrying')
        next_sync = fields.Datetime.from_string(self.box.next_sync)
        self.assertGreaterEqual(next_sync, datetime.datetime.utcnow() + datetime.timedelta(minutes=29))
        self.assertTrue(self.Log.search([('mailbox_id', '=', self.box.id), ('code', '=', 'server_busy')]))
        self.box._run_incoming_cycle()
        self.assertEqual((self.box.incoming_status, len(self.ledger())), ('ok', 3))

    def test_test_enable_reports_a_refused_token(self):
        # An application an admin consented to send mail only: reading is refused by Graph.
        server = self.make_graph_server(scopes=('Mail.Send',), oauth_scopes='.default')
        other = self.make_graph_mailbox(self.make_user('other'), server)
        other.sudo(self.manager).action_test_enable()
        self.assertEqual((other.state, other.incoming_test_state), ('draft', 'failure'))
        self.assertIn('ErrorAccessDenied', other.incoming_test_message)

    def test_failed_subscription_is_logged_and_polling_goes_on(self):
        self.box._graph_push_failed(TransientError('server_error', 'HTTP 500 on /subscriptions'))
        log = self.env['mail.sync.log'].search([('mailbox_id', '=', self.box.id),
                                                ('code', '=', 'graph_subscription_failed')])
        self.assertEqual((len(log), log.severity, log.channel), (1, 'warning', 'incoming'))
        self.assertIn('found by polling', log.message)
        self.assertIn('HTTP 500 on /subscriptions', log.message)

    def test_graph_takes_oauth_only(self):
        with self.assertRaises(ValidationError):
            self.Server.sudo(self.manager).create({'name': 'Graph with a password', 'server_type': 'graph',
                                                   'graph_url': self.graph.url, 'auth_method': 'basic'})
