"""Every error code the engine enumerates has its own user text, not the generic one."""
from odoo.tests.common import TransactionCase

from ..sync import errors
from ..sync.errors import SyncError


def enumerated_codes():
    return sorted(value for name, value in vars(errors).items()
                  if name.isupper() and isinstance(value, str) and value in errors.DEFAULT_TEXTS)


class TestErrorTexts(TransactionCase):

    def test_every_enumerated_code_has_its_own_sentence(self):
        Log = self.env['mail.sync.log']
        generic = Log._describe(SyncError('no-such-code-at-all', 'x'))
        codes = enumerated_codes()
        self.assertGreater(len(codes), 30)
        missing = [code for code in codes if code != errors.UNEXPECTED
                   and Log._describe(SyncError(code, 'detail-%s' % code)) == generic]
        self.assertEqual(missing, [], 'codes that reach users as "something unexpected"')

    def test_the_detail_is_part_of_the_sentence_where_the_text_has_one(self):
        text = self.env['mail.sync.log']._describe(SyncError('no_free_connection', 'limit 3'))
        self.assertIn('limit 3', text)
        self.assertIn('Maximum Concurrent Connections', text)
