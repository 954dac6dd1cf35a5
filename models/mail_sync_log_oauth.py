"""What each OAuth error means for the person who must act, in words."""
from odoo import _, api, models


class MailSyncLog(models.Model):
    _inherit = 'mail.sync.log'

    @api.model
    def describe(self, error, mailbox=None):
        template = self._oauth_messages().get(error.code)
        if template is None:
            return super(MailSyncLog, self).describe(error, mailbox=mailbox)
        return template % {'detail': error.detail or '', 'email': mailbox and mailbox.email or ''}

    @api.model
    def _oauth_messages(self):
        return {
            'oauth_invalid_grant': _(
                'The connection of %(email)s to its mail provider has expired or was revoked '
                '(password changed, consent withdrawn, account disabled or a sign-in policy). '
                'Open Preferences and click "Connect my mailbox" to connect it again; nothing is '
                'lost meanwhile. Provider said: %(detail)s'),
            'oauth_not_connected': _(
                '%(email)s is not connected yet: its user must open Preferences and click '
                '"Connect my mailbox" (a manager can send them the link from the mailbox form).'),
            'oauth_not_consented': _(
                'The provider has no administrator consent for this application: an administrator '
                'must grant consent to the application permissions (Microsoft Entra ID: API '
                'permissions > Grant admin consent; Google: domain-wide delegation for the '
                'service account). Provider said: %(detail)s'),
            'oauth_invalid_client': _(
                'The provider refused the application\'s client ID, secret or certificate (it may '
                'have expired): check them on the email server profile. Provider said: %(detail)s'),
            'oauth_scope_missing': _(
                'A permission (scope) the profile needs was not granted: %(detail)s. Add it to the '
                'application\'s permissions at the provider and grant consent, or remove it from '
                'the profile\'s scopes.'),
            'oauth_access_denied': _('Access was denied at the provider: %(detail)s'),
            'oauth_refused': _('The provider refused to issue a token: %(detail)s'),
            'oauth_unavailable': _('The sign-in provider is not available (%(detail)s). Sync '
                                   'retries later by itself.'),
            'oauth_token_refused': _(
                'The mail server refused the OAuth token of %(email)s (%(detail)s). Check that the '
                'application has the permission for this protocol (IMAP, POP, SMTP or EWS), that '
                'the mailbox is licensed and allowed to use this protocol, and for app-only access '
                'that the application was given access to this mailbox.'),
            'oauth_mechanism_unsupported': _(
                'The mail server does not offer OAuth sign-in for this protocol (%(detail)s): '
                'check the host and port, or use password authentication.'),
            'oauth_not_configured': _('The profile %(detail)s does not use OAuth 2.0.'),
            'oauth_missing_client_id': _('Enter the client ID on the email server profile.'),
            'oauth_missing_secret': _('Enter the client secret or certificate on the email server '
                                      'profile.'),
            'oauth_discovery_failed': _(
                'The provider\'s configuration could not be read (%(detail)s): check the tenant ID '
                'or issuer URL on the profile.'),
            'oauth_issuer_not_https': _('The issuer URL must start with https:// (%(detail)s).'),
            'oauth_bad_key': _('The service account\'s private key cannot be used (%(detail)s): '
                               'paste the private_key of its JSON key file as the client secret.'),
            'oauth_no_refresh_token': _(
                'The provider did not return a refresh token for %(detail)s: allow offline access '
                '(scope offline_access) for the application.'),
            'oauth_wrong_address': _('%(detail)s'),
            'oauth_lock_timeout': _('Another worker is renewing the token of this mailbox and '
                                    'took too long; sync retries later by itself.'),
        }
