{
    'name': 'Server-Side Sync',
    'summary': 'Server-side synchronization of each user\'s mailbox (Exchange, IMAP, POP3) with Odoo',
    'description': """
Server-side synchronization: the Odoo server talks to every user's mailbox
(Exchange through EWS, IMAP or POP3 with SMTP) so that email flows between the
mail server and Odoo without any client plugin. See README.md.
""",
    'version': '11.0.1.0.0',
    'category': 'Discuss',
    'author': 'mail_sync developers',
    'license': 'LGPL-3',
    'depends': ['mail', 'fetchmail'],
    'external_dependencies': {'python': ['exchangelib', 'cryptography']},
    'data': [
        'security/mail_sync_groups.xml',
        'security/ir.model.access.csv',
        'security/mail_sync_rules.xml',
        'data/mail_sync_data.xml',
        'data/mail_sync_cron.xml',
        'views/mail_sync_menus.xml',
        'views/mail_sync_server_views.xml',
        'views/mail_sync_mailbox_views.xml',
        'views/mail_sync_log_views.xml',
        'views/mail_sync_ledger_views.xml',
        'views/res_users_views.xml',
        'views/res_config_settings_views.xml',
        'views/mail_sync_dashboard_views.xml',
        'wizards/mail_sync_mailbox_map_views.xml',
        'views/assets.xml',
        'views/mail_sync_migration_views.xml',
        'wizards/mail_sync_migration_wizard_views.xml',
    ],
    'qweb': ['static/src/xml/mail_sync_origin.xml'],
    'installable': True,
    'application': False,
}
