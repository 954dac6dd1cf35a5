"""The French translation (i18n/fr.po): loaded into the database the way Odoo loads a
language, a Test & Enable error against the real Dovecot reaches a French-speaking user in
French, and so do the screens' labels. The file covers every string of the .pot and keeps
every placeholder, so a translated message never breaks its formatting."""
import os
import re

from babel.messages.pofile import read_po

from odoo.tools.translate import trans_load

from .common import MailSyncCase

I18N = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'i18n')
PLACEHOLDER = re.compile(r'%(?:\([^)]*\))?[-#0 +]*\d*(?:\.\d+)?[sdfr%]')


def catalog(name):
    with open(os.path.join(I18N, name), 'rb') as handle:
        return {message.id: message.string for message in read_po(handle) if message.id}


class TestFrench(MailSyncCase):

    def setUp(self):
        super(TestFrench, self).setUp()
        self.env['res.lang'].load_lang('fr_FR')
        trans_load(self.env.cr, os.path.join(I18N, 'fr.po'), 'fr_FR', verbose=False,
                   module_name='mail_sync')
        self.env['ir.translation'].clear_caches()
        self.addCleanup(self.env['ir.translation'].clear_caches)
        self.server = self.make_server('imap', 'none')

    def test_test_and_enable_error_in_french(self):
        self.manager.lang = 'fr_FR'
        box = self.make_mailbox(self.make_user('rep'), self.server, password='Mauvais-Mot-De-Passe')
        # The web client sends the user's language in the context of every call.
        box.sudo(self.manager).with_context(lang=self.manager.lang).action_test_enable()
        self.assertEqual((box.state, box.incoming_test_state), ('draft', 'failure'))
        self.assertIn("Le serveur a refusé l'identifiant ou le mot de passe de %s. Vérifiez les deux "
                      "sur la boîte aux lettres" % box.login, box.incoming_test_message)
        # The same error for an English-speaking user stays English.
        box.sudo(self.manager).with_context(lang='en_US').action_test_enable()
        self.assertIn('The server refused the login or password of %s' % box.login,
                      box.incoming_test_message)

    def test_screens_in_french(self):
        French = self.env['mail.sync.server'].sudo(self.manager).with_context(lang='fr_FR')
        labels = French.fields_get(['interval_max', 'incoming_encryption'])
        self.assertEqual(labels['interval_max']['string'], "Intervalle d'interrogation maximal (min)")
        self.assertIn(('none', 'Aucun (non chiffré)'), labels['incoming_encryption']['selection'])
        action = self.env.ref('mail_sync.action_mail_sync_my_mailbox').with_context(lang='fr_FR')
        self.assertEqual(action.name, 'Ma boîte aux lettres')
        self.assertIn('Aucun e-mail de votre boîte aux lettres', action.help)
        arch = French.env['mail.sync.ledger'].fields_view_get(
            self.env.ref('mail_sync.view_mail_sync_ledger_form').id, 'form')['arch']
        self.assertIn('string="Ne plus suivre"', arch)


class TestFrenchFile(MailSyncCase):

    def test_every_string_is_translated_with_its_placeholders(self):
        template, french = catalog('mail_sync.pot'), catalog('fr.po')
        missing = sorted(msgid for msgid in template if not french.get(msgid))
        self.assertEqual(missing, [], 'run scripts/merge_po.py fr and translate these')
        for msgid in template:
            self.assertEqual(sorted(PLACEHOLDER.findall(french[msgid])), sorted(PLACEHOLDER.findall(msgid)),
                             'placeholders of %r' % msgid)
