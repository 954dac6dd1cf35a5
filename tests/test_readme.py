"""The README documents the defaults the code has: the profile fields table is parsed and
compared with the defaults of a new mail.sync.server, and the back-off it describes with the
scheduler's constants."""
import os
import re

from odoo.tests.common import TransactionCase

from ..models.mail_sync_mailbox_scheduler import BACKOFF_MAX_MINUTES

README = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'README.md')


def readme():
    with open(README, encoding='utf-8') as handle:
        return handle.read()


def table_after(text, heading):
    """{first cell: second cell} of the first Markdown table after ``heading``."""
    rows = {}
    lines = text[text.index(heading):].splitlines()[1:]
    started = False
    for line in lines:
        if line.startswith('|'):
            started = True
            cells = [cell.strip() for cell in line.strip('|').split('|')]
            if len(cells) >= 2 and not set(cells[0]) <= set('-: '):
                rows[cells[0]] = cells[1]
        elif started:
            break
    return rows


class TestReadme(TransactionCase):

    def setUp(self):
        super(TestReadme, self).setUp()
        self.text = readme()
        Server = self.env['mail.sync.server']
        self.defaults = Server.default_get(list(Server._fields))
        self.fields = Server._fields

    def label(self, name):
        return dict(self.fields[name]._description_selection(self.env))[self.defaults[name]]

    def test_profile_defaults_table_matches_the_code(self):
        d, label = self.defaults, self.label
        expected = {
            'Server Type': label('server_type'),
            'Incoming Server / Port / Encryption': 'port %d, %s' % (d['incoming_port'],
                                                                    label('incoming_encryption')),
            'Outgoing Server / Port / Encryption': 'port %d, %s' % (d['outgoing_port'],
                                                                    label('outgoing_encryption')),
            'Locate Server By, EWS URL': label('ews_locate'),
            'Authentication': label('auth_method'),
            'Credentials': label('credential_mode'),
            'Maximum Concurrent Connections': str(d['max_connections']),
            'Connection Timeout': '%d s' % d['timeout'],
            'Polling interval min / default / max': '%d / %d / %d min' % (
                d['interval_min'], d['interval_default'], d['interval_max']),
            'Process Email Received After': 'empty' if not d.get('process_after') else d['process_after'],
            'Move Failed Email to a Folder': '%s, "%s"' % ('on' if d.get('move_failed') else 'off',
                                                           d['failed_folder']),
            'Verify TLS Certificates': 'on' if d.get('verify_tls') else 'off',
        }
        documented = table_after(self.text, '### Email server profiles')
        self.assertEqual({key: documented.get(key) for key in expected}, expected)

    def test_schedule_and_back_off_prose_match_the_code(self):
        d = self.defaults
        schedule = re.search(r'minimum\s+interval\s+\((\d+) minutes? by default\)', self.text)
        self.assertTrue(schedule, 'the Schedule paragraph gives the default minimum interval')
        self.assertEqual(int(schedule.group(1)), d['interval_min'])
        maximum = re.search(r'up\s+to\s+the\s+maximum\s+\((\d+) minutes? by default', self.text)
        self.assertTrue(maximum, 'the Schedule paragraph gives the default maximum interval')
        self.assertEqual(int(maximum.group(1)), d['interval_max'])
        # Transient failures: the minimum interval doubled per failure, up to an hour.
        sequence = ', '.join(str(d['interval_min'] * 2 ** n) for n in range(4))
        backoffs = re.findall(r'back[- ]off[^(]*\((\d+(?:, \d+)+)\.\.\. minutes', self.text)
        self.assertEqual(len(backoffs), 2, 'the Faults and Error policy paragraphs give the back-off')
        self.assertEqual(set(backoffs), {sequence})
        self.assertEqual(BACKOFF_MAX_MINUTES, 60)
        self.assertEqual(len(re.findall(
            r'minimum\s+interval\s+doubled\s+after\s+each\s+failure,\s+up\s+to\s+an\s+hour', self.text)), 2)
