"""Connect my mailbox: the OAuth 2.0 authorization code flow with PKCE (RFC 7636).

``/mail_sync/oauth/start?mailbox=ID`` (the mailbox's own user only) keeps a random
``state`` with the PKCE verifier in the user's server-side session, bound to that
user, single-use and valid ``STATE_TTL`` seconds, and sends the browser to the
provider. ``/mail_sync/oauth/callback`` takes it back: the state must match, the code
is exchanged with the verifier, the address the user signed in with must be the
mailbox's, and the refresh token is stored encrypted.
"""
import html
import logging
import secrets
import time

import werkzeug.utils

from odoo import _, http
from odoo.http import request

from ..sync.errors import SyncError
from ..sync.oauth import pkce_pair

_logger = logging.getLogger(__name__)
STATE_TTL = 600
SESSION_KEY = 'mail_sync_oauth'

PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>%(title)s</title>
<link rel="stylesheet" href="/web/static/lib/bootstrap/css/bootstrap.css"/></head>
<body><div class="container" style="max-width:40em;margin-top:3em">
<div class="alert %(css)s" id="mail_sync_oauth_result" role="%(role)s"><h3>%(title)s</h3><p>%(message)s</p></div>
<a class="btn btn-primary" id="mail_sync_oauth_back" href="/web">%(back)s</a>
</div></body></html>"""


def _page(title, message, ok=False, status=200):
    body = PAGE % {'title': html.escape(title), 'message': html.escape(message),
                   'css': 'alert-success' if ok else 'alert-danger', 'role': 'status' if ok else 'alert',
                   'back': html.escape(_('Back to Odoo'))}
    response = request.make_response(body, headers=[('Content-Type', 'text/html; charset=utf-8'),
                                                    ('Cache-Control', 'no-store')])
    response.status_code = status
    return response


class MailSyncOAuth(http.Controller):

    @http.route('/mail_sync/oauth/start', type='http', auth='user', methods=['GET'])
    def start(self, mailbox=None, **_kwargs):
        user = request.env.user
        Mailbox = request.env['mail.sync.mailbox'].sudo()
        box = Mailbox.search([('user_id', '=', user.id)], limit=1)
        if mailbox and (not mailbox.isdigit() or int(mailbox) != box.id):
            return _page(_('Not your mailbox'), _(
                'This link connects the mailbox of another user: only that user can open it, '
                'signed in to Odoo as themselves.'), status=403)
        if not box:
            return _page(_('No mailbox'), _('You have no mailbox to connect yet: ask your '
                                            'administrator to map one.'), status=404)
        server = box.server_id
        if server.auth_method != 'oauth' or server.oauth_token_mode != 'delegated':
            return _page(_('Nothing to connect'), _(
                'Your mailbox\'s server profile does not use per-user OAuth 2.0: there is nothing '
                'to connect.'), status=400)
        try:
            provider = server._oauth_provider()
            verifier, challenge = pkce_pair()
            state = secrets.token_urlsafe(24)
            url = provider.authorization_url(server.oauth_redirect_url, state, challenge,
                                             login_hint=box.email)
        except SyncError as error:
            return _page(_('The provider cannot be reached'),
                         request.env['mail.sync.log'].sudo()._describe(error, mailbox=box), status=502)
        pending = {key: value for key, value in (request.session.get(SESSION_KEY) or {}).items()
                   if value['expires'] > time.time()}
        pending[state] = {'uid': user.id, 'mailbox': box.id, 'verifier': verifier,
                          'expires': time.time() + STATE_TTL}
        request.session[SESSION_KEY] = pending
        return werkzeug.utils.redirect(url, 303)

    @http.route('/mail_sync/oauth/callback', type='http', auth='user', methods=['GET'])
    def callback(self, state=None, code=None, error=None, error_description=None, **_kwargs):
        pending = dict(request.session.get(SESSION_KEY) or {})
        entry = pending.pop(state or '', None)  # single use, whatever happens next
        request.session[SESSION_KEY] = pending
        if not entry or entry['uid'] != request.env.uid or entry['expires'] <= time.time():
            return _page(_('This sign-in link is no longer valid'), _(
                'It was already used, has expired, or was started by another Odoo user. Go back to '
                'your Preferences and click "Connect my mailbox" again.'), status=400)
        box = request.env['mail.sync.mailbox'].sudo().browse(entry['mailbox']).exists()
        if not box or box.user_id.id != request.env.uid:
            return _page(_('Not your mailbox'), _('This mailbox is no longer yours.'), status=403)
        if error:
            return _page(_('Not connected'), _(
                'The provider did not connect your mailbox (%s). Nothing changed; you can try '
                'again from your Preferences.') % (error_description or error), status=400)
        try:
            response = box.server_id._oauth_provider().exchange_code(
                code or '', box.server_id.oauth_redirect_url, entry['verifier'])
        except SyncError as exc:
            return _page(_('Not connected'), request.env['mail.sync.log'].sudo()._describe(exc, mailbox=box),
                         status=400)
        if (response.email or '').lower() != (box.email or '').lower():
            return _page(_('Wrong account'), _(
                'You signed in as %(signed)s, but your synchronized mailbox is %(mailbox)s. Sign out '
                'of %(signed)s at the provider, then connect again and sign in as %(mailbox)s.') % {
                'signed': response.email or _('an account without an email address'),
                'mailbox': box.email}, status=400)
        try:
            box._oauth_store_grant(response)
        except SyncError as exc:
            return _page(_('Not connected'), request.env['mail.sync.log'].sudo()._describe(exc, mailbox=box),
                         status=400)
        message = box._oauth_after_connect()
        return _page(_('Mailbox connected'), message, ok=True)
