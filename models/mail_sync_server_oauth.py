"""OAuth 2.0 on email server profiles: provider, client, token mode, presets."""
import hashlib

from odoo import _, api, fields, models
from odoo.exceptions import AccessError, UserError, ValidationError

from ..sync.errors import SyncError
from ..sync.oauth import EntraProvider, GoogleProvider, OAuthProvider
from .secret_store import ca_file

PROVIDERS = [
    ('entra', 'Microsoft Entra ID (Microsoft 365)'),
    ('google', 'Google Workspace / Gmail'),
    ('oidc', 'Other OpenID Connect provider'),
]
ENTRA_HOST = 'https://login.microsoftonline.com'
IDENTITY_FIELDS = {'oauth_provider', 'oauth_client_id', 'oauth_tenant', 'oauth_authority', 'oauth_issuer'}
CALLBACK_PATH = '/mail_sync/oauth/callback'

# What an admin would otherwise look up: hosts, ports and scopes of each provider.
PRESETS = {
    'entra': {
        'incoming_host': 'outlook.office365.com', 'outgoing_host': 'smtp.office365.com',
        'ports': {'imap': 993, 'pop3': 995}, 'outgoing_port': 587, 'outgoing_encryption': 'starttls',
        'ews_url': 'https://outlook.office365.com/EWS/Exchange.asmx',
        'scopes': {
            'imap': 'https://outlook.office.com/IMAP.AccessAsUser.All https://outlook.office.com/SMTP.Send',
            'pop3': 'https://outlook.office.com/POP.AccessAsUser.All https://outlook.office.com/SMTP.Send',
            'exchange': 'https://outlook.office365.com/EWS.AccessAsUser.All',
        },
        # App-only tokens carry application permissions (IMAP.AccessAsApp, POP.AccessAsApp,
        # full_access_as_app): asked as the resource's ".default".
        'app_scopes': {
            'imap': 'https://outlook.office365.com/.default',
            'pop3': 'https://outlook.office365.com/.default',
            'exchange': 'https://outlook.office365.com/.default',
        },
    },
    'google': {
        'incoming_host': 'imap.gmail.com', 'outgoing_host': 'smtp.gmail.com',
        'incoming_hosts': {'imap': 'imap.gmail.com', 'pop3': 'pop.gmail.com'},
        'ports': {'imap': 993, 'pop3': 995}, 'outgoing_port': 587, 'outgoing_encryption': 'starttls',
        'scopes': {'imap': 'https://mail.google.com/', 'pop3': 'https://mail.google.com/'},
    },
}


class MailSyncServer(models.Model):
    _inherit = 'mail.sync.server'

    oauth_provider = fields.Selection(PROVIDERS, string='OAuth Provider', default='entra')
    oauth_tenant = fields.Char(string='Tenant ID',
                               help='Directory (tenant) ID or domain of your Microsoft Entra ID.')
    oauth_authority = fields.Char(
        string='Authority Host', default=ENTRA_HOST,
        help='Sign-in host of Microsoft Entra ID; change it only for national clouds.')
    oauth_issuer = fields.Char(
        string='Issuer URL',
        help='OpenID Connect issuer, e.g. https://sso.example.com/realms/company: its '
             '/.well-known/openid-configuration gives the endpoints.')
    oauth_client_id = fields.Char(string='Client ID', help='Application (client) ID, or for a '
                                                           'Google service account its client email.')
    oauth_secret = fields.Char(
        string='Client Secret', compute='_compute_oauth_secret', inverse='_inverse_oauth_secret',
        help='Write-only: stored encrypted and never shown again. For a Google service account, '
             'paste the private key (PEM) of its JSON key file.')
    oauth_secret_set = fields.Boolean(compute='_compute_oauth_secret', string='Client Secret Stored')
    oauth_certificate = fields.Text(
        string='Certificate Private Key (PEM)', compute='_compute_oauth_certificate',
        inverse='_inverse_oauth_certificate',
        help='Entra ID only, instead of a secret: the private key of the certificate uploaded to '
             'the app registration. Write-only, stored encrypted.')
    oauth_certificate_set = fields.Boolean(compute='_compute_oauth_certificate',
                                           string='Certificate Stored')
    oauth_thumbprint = fields.Char(string='Certificate Thumbprint',
                                   help='SHA-1 thumbprint of the certificate, as Entra ID shows it.')
    oauth_token_mode = fields.Selection(
        [('app', 'App-only (admin consent; no user action)'),
         ('delegated', 'Per user (each user connects their mailbox)')],
        string='Token Mode', default='app',
        help='App-only: one application token opens every mailbox of the profile (Microsoft: '
             'client credentials; Google: service account with domain-wide delegation). Per user: '
             'each user clicks "Connect my mailbox" in Preferences once.')
    oauth_scopes = fields.Char(string='Scopes', help='Space-separated; filled by the provider preset.')
    oauth_mechanism = fields.Selection([('XOAUTH2', 'XOAUTH2'), ('OAUTHBEARER', 'OAUTHBEARER (RFC 7628)')],
                                       string='IMAP/POP3 SASL Mechanism', default='XOAUTH2')
    oauth_redirect_url = fields.Char(string='Redirect URL', compute='_compute_oauth_redirect_url',
                                     help='Register this URL with the provider.')

    def _compute_oauth_secret(self):
        self._compute_secret_fields('oauth_secret_crypt', 'oauth_secret', 'oauth_secret_set')

    def _inverse_oauth_secret(self):
        self._inverse_secret_field('oauth_secret_crypt', 'oauth_secret')
        self._oauth_forget_tokens()

    def _compute_oauth_certificate(self):
        self._compute_secret_fields('oauth_certificate_crypt', 'oauth_certificate',
                                    'oauth_certificate_set')

    def _inverse_oauth_certificate(self):
        self._inverse_secret_field('oauth_certificate_crypt', 'oauth_certificate')
        self._oauth_forget_tokens()

    def _compute_oauth_redirect_url(self):
        base = self.env['ir.config_parameter'].sudo().get_param('web.base.url') or ''
        for server in self:
            server.oauth_redirect_url = base.rstrip('/') + CALLBACK_PATH

    @api.constrains('auth_method', 'oauth_provider', 'oauth_tenant', 'oauth_issuer', 'oauth_client_id',
                    'oauth_token_mode', 'credential_mode')
    def _check_oauth(self):
        for server in self.filtered(lambda s: s.auth_method == 'oauth'):
            if not server.oauth_client_id:
                raise ValidationError(_('Enter the client ID of the application registered with the '
                                        'OAuth provider.'))
            if server.oauth_provider == 'entra' and not server.oauth_tenant:
                raise ValidationError(_('Enter the tenant ID of your Microsoft Entra ID directory.'))
            if server.oauth_provider == 'oidc' and not (server.oauth_issuer or '').startswith('https://'):
                raise ValidationError(_('Enter the issuer URL of the OpenID Connect provider; it must '
                                        'start with https://'))
            if server.oauth_authority and not server.oauth_authority.startswith('https://'):
                raise ValidationError(_('The authority host must start with https://'))

    @api.onchange('auth_method', 'oauth_provider', 'oauth_token_mode', 'server_type')
    def _onchange_oauth_preset(self):
        """Fill hosts, ports and scopes of Microsoft 365 or Google."""
        if self.auth_method != 'oauth':
            return
        self.credential_mode = 'profile' if self.oauth_token_mode == 'app' else 'mailbox'
        preset = PRESETS.get(self.oauth_provider)
        if not preset:
            return
        kind = self.server_type
        if kind in ('imap', 'pop3'):
            self.incoming_host = preset.get('incoming_hosts', {}).get(kind) or preset['incoming_host']
            self.incoming_encryption = 'ssl'
            self.incoming_port = preset['ports'][kind]
            self.outgoing_host = preset['outgoing_host']
            self.outgoing_port = preset['outgoing_port']
            self.outgoing_encryption = preset['outgoing_encryption']
        elif kind == 'exchange' and preset.get('ews_url'):
            self.ews_locate, self.ews_url = 'url', preset['ews_url']
        scopes = preset.get('app_scopes', {}) if self.oauth_token_mode == 'app' else {}
        self.oauth_scopes = scopes.get(kind) or preset['scopes'].get(kind) or self.oauth_scopes

    def write(self, vals):
        """Tokens obtained for another application (client, provider, tenant, issuer) are
        worthless: forget them all; other OAuth changes drop the app-only token."""
        result = super(MailSyncServer, self).write(vals)
        if set(vals) & IDENTITY_FIELDS:
            for server in self:
                with self.pool.cursor() as cr:
                    self.env['mail.sync.oauth.token']._forget(cr, server.id)
        elif set(vals) & {'oauth_scopes', 'oauth_token_mode'}:
            self._oauth_forget_tokens()
        return result

    # ------------------------------------------------------------------ tokens
    def _oauth_provider(self):
        """The ``sync.oauth`` provider of this profile (secrets decrypted here only)."""
        self.ensure_one()
        server = self.sudo()
        scopes = (server.oauth_scopes or '').split()
        verify = (ca_file() or True) if server.verify_tls else False
        timeout = server.timeout
        secret = server._secret_get('oauth_secret_crypt')
        if server.oauth_provider == 'entra':
            authority = '%s/%s' % ((server.oauth_authority or 'https://login.microsoftonline.com').rstrip('/'),
                                   server.oauth_tenant)
            certificate = None
            key = server._secret_get('oauth_certificate_crypt')
            if key:
                certificate = {'private_key': key, 'thumbprint': (server.oauth_thumbprint or '').replace(':', '')}
            return EntraProvider(server.oauth_client_id, secret, authority, scopes, timeout=timeout,
                                 verify=verify, certificate=certificate)
        if server.oauth_provider == 'google':
            issuer = server.oauth_issuer
            if issuer:  # a Google-compatible endpoint (tests, proxies)
                endpoints = OAuthProvider.discover(issuer, timeout, verify)
            else:
                endpoints = {'authorization_endpoint': GoogleProvider.AUTHORIZE,
                             'token_endpoint': GoogleProvider.TOKEN}
            return GoogleProvider(server.oauth_client_id, secret, endpoints, scopes, timeout=timeout,
                                  verify=verify)
        endpoints = OAuthProvider.discover(server.oauth_issuer or '', timeout, verify)
        return OAuthProvider(server.oauth_client_id, secret, endpoints, scopes, timeout=timeout,
                             verify=verify)

    def _oauth_token_per_mailbox(self):
        """Whether tokens are held per mailbox (delegated, or a Google service account acting
        as each user) rather than one for the whole profile."""
        self.ensure_one()
        return self.oauth_token_mode == 'delegated' or self.oauth_provider == 'google'

    def _oauth_forget_tokens(self):
        """Cached tokens were obtained with the old client credentials: drop app-only ones."""
        for server in self.filtered('id'):
            with self.pool.cursor() as cr:
                cr.execute("""DELETE FROM mail_sync_oauth_token WHERE server_key = %s AND mailbox_key = 0""",
                           [server.id])

    def action_oauth_test(self):
        """Get an app-only token now (managers): shows whether the app is consented."""
        self.ensure_one()
        if not self.env.user.has_group('mail_sync.group_mail_sync_manager'):
            raise AccessError(_('Only a Server-Side Sync manager can test a profile.'))
        if self.oauth_token_mode != 'app' or self.oauth_provider == 'google':
            raise UserError(_('Use Test & Enable on a mailbox: this profile\'s tokens belong to '
                              'each mailbox.'))
        try:
            response = self._oauth_provider().client_credentials()
        except SyncError as error:
            raise UserError(self.env['mail.sync.log']._record_error(error, server=self))
        raise UserError(_('The provider issued an application token (scopes: %s).')
                        % (response.scope or '-'))

    @staticmethod
    def _oauth_thumbprint(cert_pem):
        """SHA-1 thumbprint (hex) of a PEM certificate, as Entra ID shows it."""
        from cryptography import x509
        from cryptography.hazmat.primitives import serialization
        cert = x509.load_pem_x509_certificate(cert_pem.encode('ascii'))
        return hashlib.sha1(cert.public_bytes(serialization.Encoding.DER)).hexdigest().upper()
