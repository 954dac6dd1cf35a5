from odoo import SUPERUSER_ID, _, api, fields, models
from odoo.exceptions import AccessError, ValidationError

from ..sync import registry
from .mail_sync_mailbox_health import HEALTH

TRACK_CHOICES = [
    ('all', 'All email messages'),
    ('odoo_replies', 'Email messages in response to Odoo email'),
    ('contacts', 'Email messages from known contacts and leads'),
    ('none', 'No email messages'),
]

# res.users field <- field of the user's mailbox
MAILBOX_FIELDS = [('mail_sync_email', 'email'), ('mail_sync_state', 'status_message'),
                  ('mail_sync_health', 'health'), ('mail_sync_health_message', 'health_message'),
                  ('mail_sync_next_sync', 'next_sync')]
ACT_USER_FIELDS = ['act_filter_appointment', 'act_filter_contact', 'act_filter_task']
SEND_USER_FIELDS = ['mail_sync_send_delegate_ids', 'mail_sync_send_automated']
ACT_OVERRIDE_HELP = ('Leave empty to use the filter of your mailbox\'s server profile. A literal Odoo domain '
                     'where "user" is you, e.g. [(\'user_id\', \'=\', user.id)].')


class ResUsers(models.Model):
    _inherit = 'res.users'

    mail_sync_track = fields.Selection(
        TRACK_CHOICES, string='Track Incoming Email', default='odoo_replies', required=True,
        help='Which email arriving in your mailbox Odoo imports and links to its records.')
    mail_sync_track_sent = fields.Boolean(
        string='Track Sent Email', help='Also import the email you send from your mail client '
                                        '(your Sent folder), by the same rule, on the records of its recipients.')
    mail_sync_mailbox_id = fields.Many2one('mail.sync.mailbox', string='Mailbox',
                                           compute='_compute_mail_sync_mailbox')
    mail_sync_email = fields.Char(string='Synchronized Address', compute='_compute_mail_sync_mailbox')
    mail_sync_state = fields.Char(string='Mailbox Status', compute='_compute_mail_sync_mailbox')
    mail_sync_health = fields.Selection(HEALTH, string='Mailbox Health', compute='_compute_mail_sync_mailbox')
    mail_sync_health_message = fields.Text(string='Mailbox Health Details',
                                           compute='_compute_mail_sync_mailbox')
    mail_sync_next_sync = fields.Datetime(string='Next Sync', compute='_compute_mail_sync_mailbox')
    mail_sync_alert_ids = fields.One2many('mail.sync.log', string='My Mailbox Alerts',
                                          compute='_compute_mail_sync_mailbox')
    mail_sync_act = fields.Boolean(string='Appointments, Contacts and Tasks Synchronized',
                                   compute='_compute_mail_sync_mailbox')
    # Own filters of appointments, contacts and tasks; empty: the profile's.
    act_filter_appointment = fields.Char(string='My Appointments to Sync', help=ACT_OVERRIDE_HELP)
    act_filter_contact = fields.Char(string='My Contacts to Sync', help=ACT_OVERRIDE_HELP)
    act_filter_task = fields.Char(string='My Tasks to Sync', help=ACT_OVERRIDE_HELP)
    # Who else may make Odoo send email through this user's mailbox (Dynamics: "Allow other
    # users to send email on your behalf"); everyone else's email leaves through Odoo's servers.
    mail_sync_send_delegate_ids = fields.Many2many(
        'res.users', 'mail_sync_send_delegate_rel', 'owner_id', 'delegate_id',
        string='Users Who May Send Email on My Behalf', domain=[('share', '=', False)],
        help='Email these users write in Odoo with you as the author leaves through your own '
             'mailbox (and lands in your Sent folder). Email anyone else writes as you goes '
             'through the company\'s outgoing mail servers.')
    mail_sync_send_automated = fields.Boolean(
        string='Send Automated Email Through My Mailbox',
        help='Email that Odoo writes by itself with you as the author (email templates, '
             'scheduled actions, automated actions) leaves through your own mailbox. Otherwise '
             'it goes through the company\'s outgoing mail servers.')

    def __init__(self, pool, cr):
        """Let users read and change their own tracking choice, and read their mailbox's health, in Preferences."""
        init_res = super(ResUsers, self).__init__(pool, cr)
        type(self).SELF_WRITEABLE_FIELDS = list(self.SELF_WRITEABLE_FIELDS) + [
            'mail_sync_track', 'mail_sync_track_sent'] + ACT_USER_FIELDS + SEND_USER_FIELDS
        type(self).SELF_READABLE_FIELDS = list(self.SELF_READABLE_FIELDS) + [
            'mail_sync_track', 'mail_sync_track_sent', 'mail_sync_mailbox_id', 'mail_sync_email', 'mail_sync_state',
            'mail_sync_health', 'mail_sync_health_message', 'mail_sync_next_sync', 'mail_sync_act',
            'mail_sync_alert_ids'] + ACT_USER_FIELDS + SEND_USER_FIELDS
        return init_res

    def _mail_sync_visible(self):
        """The users among these whose mailbox the current user may see: themselves, or
        all for managers (res.users is readable by every employee, mailboxes are not)."""
        if self.env.user._is_superuser() or self.env.user.has_group('mail_sync.group_mail_sync_manager'):
            return self
        return self.filtered(lambda user: user == self.env.user)

    @api.depends()
    def _compute_mail_sync_mailbox(self):
        """The user's mailbox, its status and health, for that user (Preferences) and for
        managers only: res.users is readable by every employee, a mailbox's problems are not."""
        mailboxes = self.env['mail.sync.mailbox'].sudo().search(
            [('user_id', 'in', self._mail_sync_visible().ids)])
        by_user = {mailbox.user_id.id: mailbox for mailbox in mailboxes}
        for user in self:
            mailbox = by_user.get(user.id)
            for field, source in MAILBOX_FIELDS:
                user[field] = mailbox[source] if mailbox else False
            user.mail_sync_mailbox_id = mailbox.id if mailbox else False
            # The owner's own alerts, read with the owner's rights, for the owner (Odoo reads
            # a user's own Preferences as superuser), not for a manager reading the user.
            own = user == self.env.user or self.env.user._is_superuser()
            user.mail_sync_alert_ids = mailbox.sudo(user.id).alert_ids.ids if mailbox and own else False
            user.mail_sync_act = bool(mailbox) and mailbox.act_enabled and \
                'act' in registry.lookup(mailbox.server_type).channels

    @api.constrains(*ACT_USER_FIELDS)
    def _check_act_filters(self):
        """A user's own filter must evaluate for that user: refused when entered."""
        for user in self:
            error = self.env['mail.sync.mailbox']._act_filters_error(user, user)
            if error:
                raise ValidationError(error)

    @api.onchange(*ACT_USER_FIELDS)
    def _onchange_act_filters(self):
        # A form's record is a new record here: the constraint checks with the user on save.
        return self.env['mail.sync.mailbox']._act_filters_warning(self)

    def _mail_sync_lets_send(self, sender):
        """Whether email that ``sender`` (a user) made Odoo write with this user as its
        author may leave through this user's mailbox. The superuser is how Odoo writes
        automated email (templates, scheduled actions), which needs its own opt-in."""
        self.ensure_one()
        owner = self.sudo()
        if sender == owner:
            return True
        if sender.id == SUPERUSER_ID:
            return owner.mail_sync_send_automated
        return sender in owner.mail_sync_send_delegate_ids

    def action_mail_sync_map(self):
        self.ensure_one()
        if not self.env.user.has_group('mail_sync.group_mail_sync_manager'):
            raise AccessError(_('Only a Server-Side Sync manager can map mailboxes.'))
        return {
            'type': 'ir.actions.act_window', 'res_model': 'mail.sync.mailbox.map',
            'view_mode': 'form', 'target': 'new',
            'context': {'default_user_id': self.id, 'default_email': self.email or self.login},
        }
