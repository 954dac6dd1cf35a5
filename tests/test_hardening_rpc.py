"""Attacks of an ordinary user (and of a manager) over XML-RPC against the real Odoo HTTP
server, each of which worked before the hardening of issue 13."""
import email
import uuid
import xmlrpc.client

import pytest

from .jobs_run import run_jobs


class World(object):
    """Users, mailboxes and a customer on the real Odoo HTTP server, all committed."""

    def __init__(self, http, mail_servers):
        self.http = http
        self.servers = mail_servers
        self.tag = uuid.uuid4().hex[:6]
        self.users, self.partners, self.boxes, self.accounts = {}, {}, {}, {}

    def as_(self, name):
        login, password = ('admin', 'admin') if name == 'admin' else self.credentials(name)
        return lambda model, method, *a, **k: self.http.rpc(login, password, model, method, *a, **k)

    def credentials(self, name):
        return 'h13-%s-%s' % (name, self.tag), 'h13-%s-pw' % name

    def create_user(self, name, *xmlids):
        admin = self.as_('admin')
        groups = [admin('ir.model.data', 'xmlid_to_res_id', xmlid) for xmlid in ('base.group_user',) + xmlids]
        login, password = self.credentials(name)
        self.users[name] = admin('res.users', 'create', {
            'name': 'H13 %s' % name.title(), 'login': login, 'password': password,
            'email': '%s-%s@company.test' % (name, self.tag), 'groups_id': [(6, 0, groups)]})
        self.partners[name] = admin('res.users', 'read', [self.users[name]], ['partner_id'])[0]['partner_id'][0]

    def sent_subjects(self, name):
        """Subjects in the Sent folder of ``name``'s mail account (real Dovecot)."""
        return [message['Subject'] for message in self.folder(self.accounts[name], 'Sent')]

    def folder(self, login, folder='INBOX'):
        client = self.servers.dovecot.imap(login)
        try:
            typ, _data = client.select(folder, readonly=True)
            if typ != 'OK':
                return []
            typ, data = client.uid('FETCH', '1:*', '(BODY.PEEK[])')
            return [email.message_from_bytes(item[1]) for item in data if isinstance(item, tuple)]
        finally:
            client.logout()


@pytest.fixture(scope='module')
def world(odoo_http, mail_servers):
    """Ann and Ben (employees who may write contacts), Max (a Server-Side Sync manager who is
    not the superuser), Ann's and Ben's mailboxes enabled with outgoing email, and a customer."""
    world = World(odoo_http, mail_servers)
    admin = world.as_('admin')
    world.create_user('ann', 'base.group_partner_manager')
    world.create_user('ben', 'base.group_partner_manager')
    world.create_user('max', 'mail_sync.group_mail_sync_manager')
    smtp = mail_servers.smtp
    world.server = admin('mail.sync.server', 'create', {
        'name': 'H13 profile %s' % world.tag, 'server_type': 'imap', 'incoming_host': 'localhost',
        'incoming_port': mail_servers.dovecot.ports['imap'], 'incoming_encryption': 'none',
        'outgoing_host': 'localhost', 'outgoing_port': smtp.port, 'outgoing_encryption': 'starttls',
        'timeout': 10})
    for name in ('ann', 'ben'):
        login, password = mail_servers.new_account()
        world.accounts[name] = login
        world.boxes[name] = admin('mail.sync.mailbox', 'create', {
            'user_id': world.users[name], 'server_id': world.server, 'email': login,
            'password': password, 'outgoing_enabled': True})
        admin('mail.sync.mailbox', 'action_test_enable', [world.boxes[name]])
        admin('mail.sync.mailbox', 'action_approve', [world.boxes[name]])
        state = admin('mail.sync.mailbox', 'read', [world.boxes[name]], ['state'])[0]['state']
        assert state == 'enabled', 'Test & Enable failed for %s' % name
    world.customer_account, _pw = mail_servers.new_account()
    world.customer = admin('res.partner', 'create', {'name': 'H13 Customer', 'email': world.customer_account})
    try:
        yield world
    finally:
        admin('mail.sync.mailbox', 'unlink', list(world.boxes.values()))
        admin('mail.sync.server', 'unlink', [world.server])
        admin('res.users', 'write', list(world.users.values()), {'active': False})


def _post_as(world, poster, author, subject):
    """``poster`` posts an email to the customer from the customer's chatter with ``author``'s
    partner as the author; returns the Odoo emails it made (read as admin)."""
    message_id = world.as_(poster)(
        'res.partner', 'message_post', [world.customer], body='<p>%s</p>' % subject, subject=subject,
        author_id=world.partners[author] if author != 'admin' else None,
        message_type='comment', subtype='mail.mt_comment', partner_ids=[world.customer])
    return world.as_('admin')('mail.mail', 'search_read', [('mail_message_id', '=', message_id)],
                              fields=['mail_sync_mailbox_id', 'mail_sync_sender_id'])


def _outbox_subjects(world, name):
    return [row['subject'] for row in world.as_('admin')(
        'mail.sync.outbox', 'search_read', [('mailbox_id', '=', world.boxes[name])], fields=['subject'])]


# ---------------------------------------------------------------------- 1. nobody sends as someone else
def test_a_colleague_cannot_send_through_my_mailbox_by_naming_me_the_author(world):
    subject = 'Forged by Ben %s' % world.tag
    mails = _post_as(world, 'ben', 'ann', subject)
    assert mails, 'Odoo still writes the email (through its own mail servers)'
    assert all(not mail['mail_sync_mailbox_id'] for mail in mails)
    assert all(mail['mail_sync_sender_id'][0] == world.users['ben'] for mail in mails)
    assert subject not in _outbox_subjects(world, 'ann')
    world.as_('ann')('mail.sync.mailbox', 'action_sync_outgoing_now', [world.boxes['ann']])
    run_jobs(world.http, 'mail_sync.outgoing.%d' % world.boxes['ann'])  # as the job runner would
    assert subject not in world.sent_subjects('ann')
    assert subject not in [m['Subject'] for m in world.folder(world.customer_account)]


def test_a_colleague_i_allowed_sends_through_my_mailbox(world):
    ann = world.as_('ann')
    ann('res.users', 'write', [world.users['ann']], {'mail_sync_send_delegate_ids': [(6, 0, [world.users['ben']])]})
    try:
        subject = 'Allowed for Ben %s' % world.tag
        mails = _post_as(world, 'ben', 'ann', subject)
        assert [mail['mail_sync_mailbox_id'][0] for mail in mails] == [world.boxes['ann']]
        assert subject in _outbox_subjects(world, 'ann')
        ann('mail.sync.mailbox', 'action_sync_outgoing_now', [world.boxes['ann']])
        run_jobs(world.http, 'mail_sync.outgoing.%d' % world.boxes['ann'])  # as the job runner would
        assert subject in world.sent_subjects('ann')
        received = [m for m in world.folder(world.customer_account) if m['Subject'] == subject]
        assert received and world.accounts['ann'] in received[0]['From']
    finally:
        ann('res.users', 'write', [world.users['ann']], {'mail_sync_send_delegate_ids': [(5,)]})
    # Permission withdrawn: Ben's next email as Ann no longer goes through her mailbox.
    mails = _post_as(world, 'ben', 'ann', 'After withdrawal %s' % world.tag)
    assert all(not mail['mail_sync_mailbox_id'] for mail in mails)


def test_nobody_grants_themselves_the_right_to_send_as_a_colleague(world):
    ben = world.as_('ben')
    with pytest.raises(xmlrpc.client.Fault) as info:
        ben('res.users', 'write', [world.users['ann']], {'mail_sync_send_delegate_ids': [(4, world.users['ben'])]})
    assert 'AccessError' in info.value.faultString or 'access' in info.value.faultString.lower()
    delegates = world.as_('admin')('res.users', 'read', [world.users['ann']],
                                   ['mail_sync_send_delegate_ids'])[0]['mail_sync_send_delegate_ids']
    assert world.users['ben'] not in delegates


def test_automated_email_authored_as_me_needs_my_opt_in(world):
    """Email Odoo writes by itself (here: the superuser, as templates and scheduled actions do)
    with Ann as its author goes through Ann's mailbox only once she opted in."""
    admin = world.as_('admin')
    mails = _post_as(world, 'admin', 'ann', 'Automated before opt-in %s' % world.tag)
    assert mails and all(not mail['mail_sync_mailbox_id'] for mail in mails)
    world.as_('ann')('res.users', 'write', [world.users['ann']], {'mail_sync_send_automated': True})
    try:
        subject = 'Automated after opt-in %s' % world.tag
        mails = _post_as(world, 'admin', 'ann', subject)
        assert [mail['mail_sync_mailbox_id'][0] for mail in mails] == [world.boxes['ann']]
        assert subject in _outbox_subjects(world, 'ann')
        # The opt-in is about automated email only: Ben still cannot send as Ann.
        mails = _post_as(world, 'ben', 'ann', 'Ben after opt-in %s' % world.tag)
        assert all(not mail['mail_sync_mailbox_id'] for mail in mails)
    finally:
        admin('res.users', 'write', [world.users['ann']], {'mail_sync_send_automated': False})


def test_my_own_email_still_goes_through_my_mailbox(world):
    subject = 'Ann herself %s' % world.tag
    mails = _post_as(world, 'ann', 'ann', subject)
    assert [mail['mail_sync_mailbox_id'][0] for mail in mails] == [world.boxes['ann']]


# ---------------------------------------------------------------------- records of Ann's that others try
SECRET = 'Salary talk with the CFO'


@pytest.fixture(scope='module')
def ann_rows(world):
    """Ann's untracked and tracked email in her mailbox index, a linked contact with a sync
    conflict, and a message of hers in a private channel, all created by the admin."""
    admin = world.as_('admin')
    rows = {}
    rows['untracked'] = admin('mail.sync.ledger', 'create', {
        'mailbox_id': world.boxes['ann'], 'folder': 'INBOX', 'uidvalidity': 1, 'uid': 901,
        'message_id': '<untracked-%s@cfo.test>' % world.tag, 'state': 'indexed', 'subject': SECRET,
        'email_from': 'cfo@cfo.test', 'recipients': world.accounts['ann'], 'size': 4321,
        'preview': 'Your raise is approved'})
    rows['tracked'] = admin('mail.sync.ledger', 'create', {
        'mailbox_id': world.boxes['ann'], 'folder': 'INBOX', 'uidvalidity': 1, 'uid': 902,
        'message_id': '<tracked-%s@customer.test>' % world.tag, 'state': 'imported',
        'subject': 'Order 42', 'email_from': 'buyer@customer.test', 'size': 1000})
    rows['link'] = admin('mail.sync.link', 'create', {
        'mailbox_id': world.boxes['ann'], 'kind': 'contact', 'res_model': 'res.partner',
        'res_id': world.customer, 'item_id': 'AAMk-h13-%s' % world.tag})
    rows['conflict'] = admin('mail.sync.conflict', 'create', {
        'mailbox_id': world.boxes['ann'], 'link_id': rows['link'], 'kind': 'contact',
        'res_model': 'res.partner', 'res_id': world.customer, 'field': 'email', 'winner': 'odoo',
        'rule': 'odoo'})
    rows['channel'] = admin('mail.channel', 'create', {
        'name': 'Ann private %s' % world.tag, 'public': 'private',
        'channel_partner_ids': [(4, world.partners['ann'])]})
    rows['channel_message'] = world.as_('ann')(
        'mail.channel', 'message_post', [rows['channel']], body='<p>%s: 12%% more</p>' % SECRET,
        subject=SECRET, message_type='comment', subtype='mail.mt_comment')
    rows['alert'] = admin('mail.sync.mailbox', 'message_post', [world.boxes['ann']],
                          body='<p>%s: the server refused the password</p>' % SECRET, subject=SECRET,
                          message_type='notification', partner_ids=[world.partners['ann']])
    return rows


def refused(call, *args, **kwargs):
    """The call fails with Odoo's AccessError (XML-RPC fault code 4)."""
    with pytest.raises(xmlrpc.client.Fault) as info:
        call(*args, **kwargs)
    assert info.value.faultCode == 4, info.value.faultString[-600:]
    return info.value.faultString


# ---------------------------------------------------------------------- 6. grouped reads of messages
def test_grouped_reads_of_messages_show_only_what_the_user_could_search(world, ann_rows):
    domain = [('model', '=', 'mail.channel'), ('res_id', '=', ann_rows['channel'])]
    ann, ben = world.as_('ann'), world.as_('ben')
    assert SECRET in [group['subject'] for group in ann('mail.message', 'read_group', domain, ['subject'], ['subject'])]
    assert ben('mail.message', 'search', domain) == []
    for groupby in (['subject'], ['body'], ['author_id']):
        groups = ben('mail.message', 'read_group', domain, groupby, groupby)
        assert groups == [], groups
    # Alerts on Ann's mailbox are Ann's (and the managers').
    alerts = [('model', '=', 'mail.sync.mailbox'), ('res_id', '=', world.boxes['ann'])]
    assert ann('mail.message', 'read_group', alerts, ['subject'], ['subject'])
    assert ben('mail.message', 'read_group', alerts, ['subject'], ['subject']) == []
    everything = ben('mail.message', 'read_group', [], ['subject'], ['subject'], lazy=False)
    assert SECRET not in [group['subject'] for group in everything]


# ---------------------------------------------------------------------- 5. no enumeration of mappings
def _mailbox_onchange(world, who, address):
    return world.as_(who)('mail.sync.mailbox', 'onchange', [],
                          {'email': address, 'login': False, 'user_id': world.users[who] if who != 'admin' else False},
                          'email', {'email': '1', 'login': '', 'user_id': '1'})


def test_users_cannot_learn_who_owns_an_address(world):
    ann_address = world.accounts['ann']
    for probe in (ann_address, ann_address.upper(), 'acct%', '%@example.test', ann_address[:-1] + '_'):
        result = _mailbox_onchange(world, 'ben', probe)
        assert 'warning' not in result or 'H13 Ann' not in str(result['warning']), probe
        assert 'H13 Ann' not in str(result)


def test_managers_see_exact_case_insensitive_matches_only(world):
    ann_address = world.accounts['ann']
    assert 'H13 Ann' in str(_mailbox_onchange(world, 'max', ann_address.upper()).get('warning'))
    for pattern in ('acct%', ann_address[:-1] + '_', ann_address.replace('@', '%')):
        assert 'warning' not in _mailbox_onchange(world, 'max', pattern), pattern


def test_users_cannot_use_the_map_mailbox_wizard(world):
    ben, max_ = world.as_('ben'), world.as_('max')
    refused(ben, 'mail.sync.mailbox.map', 'create', {'user_id': world.users['ben'], 'email': world.accounts['ann']})
    spec = {'email': '1', 'user_id': '1', 'conflict_message': '', 'conflict_mailbox_id': ''}
    values = {'email': world.accounts['ann'], 'user_id': world.users['ben'], 'conflict_message': False,
              'conflict_mailbox_id': False}
    assert 'H13 Ann' not in str(ben('mail.sync.mailbox.map', 'onchange', [], values, 'email', spec))
    assert 'H13 Ann' in str(max_('mail.sync.mailbox.map', 'onchange', [], values, 'email', spec))
    wizard = max_('mail.sync.mailbox.map', 'create', {'user_id': world.users['ben'], 'email': 'h13-new@example.test'})
    refused(ben, 'mail.sync.mailbox.map', 'action_map', [wizard])
    refused(ben, 'mail.sync.mailbox.map', 'read', [wizard], ['conflict_message'])


# ---------------------------------------------------------------------- 7. untracked mail is the owner's
def test_managers_see_states_and_sizes_of_untracked_mail_not_its_content(world, ann_rows):
    max_, ann = world.as_('max'), world.as_('ann')
    fields = ['subject', 'email_from', 'recipients', 'preview', 'size', 'state', 'user_id', 'display_name']
    row = max_('mail.sync.ledger', 'read', [ann_rows['untracked']], fields)[0]
    assert (row['size'], row['state'], row['user_id'][0]) == (4321, 'indexed', world.users['ann'])
    assert not any(row[name] for name in ('subject', 'email_from', 'recipients', 'preview'))
    assert SECRET not in str(row)
    assert ann('mail.sync.ledger', 'read', [ann_rows['untracked']], ['subject'])[0]['subject'] == SECRET
    # Tracked email is in Odoo already: managers see what it was.
    assert max_('mail.sync.ledger', 'read', [ann_rows['tracked']], ['subject'])[0]['subject'] == 'Order 42'
    # No search, name search, sort, grouping or export lets the content through.
    for domain in ([('subject', 'ilike', 'salary')], [('email_from', '=', 'cfo@cfo.test')],
                   [('preview', 'ilike', 'raise')], ['|', ('subject', 'ilike', 'salary'), ('id', '=', 0)]):
        assert max_('mail.sync.ledger', 'search', domain) == [], domain
        assert max_('mail.sync.ledger', 'search_count', domain) == 0, domain
    assert max_('mail.sync.ledger', 'name_search', 'Salary') == []
    mine = [('mailbox_id', '=', world.boxes['ann'])]
    assert ann_rows['untracked'] not in max_('mail.sync.ledger', 'search', mine, order='subject')
    groups = max_('mail.sync.ledger', 'read_group', mine, ['size', 'subject'], ['subject'])
    assert SECRET not in str(groups)
    exported = max_('mail.sync.ledger', 'export_data', [ann_rows['untracked']], ['subject', 'email_from', 'preview'])
    assert SECRET not in str(exported) and 'cfo@cfo.test' not in str(exported)
    # ... while the figures to run the service are all there.
    by_state = {group['state']: group
                for group in max_('mail.sync.ledger', 'read_group', mine, ['size', 'state'], ['state'])}
    assert by_state['indexed']['state_count'] == 1 and by_state['indexed']['size'] == 4321
    # And a manager cannot pull the email into Odoo to read it there: not with Track, nor by
    # writing (or forging) a row Being Tracked on a document of theirs for the owner's job.
    refused(max_, 'mail.sync.ledger', 'action_track', [ann_rows['untracked']])
    partner = world.as_('admin')('res.partner', 'create', {'name': 'H13 Max drop box'})
    for values in ({'state': 'tracking'}, {'track_target_model': 'res.partner', 'track_target_id': partner},
                   {'track_requested': '2026-01-01 00:00:00'}):
        refused(max_, 'mail.sync.ledger', 'write', [ann_rows['untracked']], values)
    refused(max_, 'mail.sync.ledger', 'create', {
        'mailbox_id': world.boxes['ann'], 'folder': 'INBOX', 'message_id': '<forged-track@h13.test>',
        'state': 'tracking', 'track_target_model': 'res.partner', 'track_target_id': partner})
    assert max_('mail.sync.ledger', 'read', [ann_rows['untracked']], ['state'])[0]['state'] == 'indexed'


# ---------------------------------------------------------------------- 4. no public method without a check
def test_users_cannot_forge_sync_log_rows(world):
    ben, admin = world.as_('ben'), world.as_('admin')
    code = 'forged_%s' % world.tag
    with pytest.raises(xmlrpc.client.Fault):  # gone from the API
        ben('mail.sync.log', 'record', code, 'Click http://evil.test', mailbox=False)
    refused(ben, 'mail.sync.log', '_record', code, 'Click http://evil.test')
    refused(ben, 'mail.sync.log', 'create', {'code': code, 'message': 'Click http://evil.test',
                                            'mailbox_id': world.boxes['ann']})
    assert admin('mail.sync.log', 'search_count', [('code', '=', code)]) == 0


def _public_methods():
    """(model, method) for every method without a leading underscore that mail_sync's own
    classes define: each is an XML-RPC endpoint."""
    import inspect
    import os
    import odoo
    registry = odoo.registry(os.environ['MAIL_SYNC_TEST_DB'])
    found = set()
    for name in registry:
        for cls in registry[name].__mro__:  # the registry holds model classes
            if not cls.__module__.startswith('odoo.addons.mail_sync.'):
                continue
            for attr, value in vars(cls).items():
                if not attr.startswith('_') and (inspect.isfunction(value) or
                                                 isinstance(value, (staticmethod, classmethod))):
                    found.add((name, attr))
    return found


def _mail_of_ann(world):
    """An email Ann wrote herself, waiting in her mailbox's outbox."""
    subject = 'Queued for Ann %s' % uuid.uuid4().hex[:6]
    mails = _post_as(world, 'ann', 'ann', subject)
    assert [mail['mail_sync_mailbox_id'][0] for mail in mails] == [world.boxes['ann']]
    return mails[0]['id']


def _audit_mail_create(world, rows, ben):
    message = world.as_('ann')('res.partner', 'message_post', [world.customer], body='Hello',
                               message_type='comment', subtype='mail.mt_comment')
    forged = {'body_html': '<p>Pay this invoice</p>', 'author_id': world.partners['ann'],
              'mail_sync_sender_id': world.users['ann'], 'mail_sync_mailbox_id': world.boxes['ann'],
              'recipient_ids': [(4, world.customer)]}
    # On a message Ann created (so its creator is Ann), and on a new one.
    for extra in ({'mail_message_id': message}, {}):
        subject = 'Forged mail %s %s' % (world.tag, len(extra))
        try:
            mail = ben('mail.mail', 'create', dict(forged, subject=subject, **extra))
        except xmlrpc.client.Fault as fault:
            assert fault.faultCode == 4
            continue
        row = world.as_('admin')('mail.mail', 'read', [mail], ['mail_sync_mailbox_id', 'mail_sync_sender_id'])[0]
        assert not row['mail_sync_mailbox_id'] and row['mail_sync_sender_id'][0] == world.users['ben']
        assert subject not in _outbox_subjects(world, 'ann')
        rows['ben_mail'] = mail


def _audit_mail_write(world, rows, ben):
    mail = rows.get('ben_mail') or ben('mail.mail', 'create', {'subject': 'Ben', 'body_html': 'x'})
    ben('mail.mail', 'write', [mail], {'mail_sync_mailbox_id': world.boxes['ann'],
                                       'mail_sync_sender_id': world.users['ann']})
    row = world.as_('admin')('mail.mail', 'read', [mail], ['mail_sync_mailbox_id', 'mail_sync_sender_id'])[0]
    assert not row['mail_sync_mailbox_id'] and row['mail_sync_sender_id'][0] == world.users['ben']


def _audit_mail_send(world, rows, ben):
    mail = _mail_of_ann(world)
    try:
        ben('mail.mail', 'send', [mail])  # a no-op: the outgoing sync sends it, once
    except xmlrpc.client.Fault as fault:
        assert fault.faultCode == 4
    admin = world.as_('admin')
    assert admin('mail.sync.outbox', 'search_read', [('mail_id', '=', mail)], fields=['state'])[0]['state'] == 'queued'
    assert admin('mail.mail', 'read', [mail], ['state'])[0]['state'] == 'outgoing'


def _audit_message_format(world, rows, ben):
    refused(ben, 'mail.message', 'message_format', [rows['channel_message']])


def _audit_read_group(world, rows, ben):
    groups = ben('mail.message', 'read_group', [('id', '=', rows['channel_message'])], ['body'], ['body'])
    assert groups == []


def _audit_settings_set_values(world, rows, ben):
    admin = world.as_('admin')
    before = admin('ir.config_parameter', 'get_param', 'mail_sync.approved_only')
    try:
        settings = ben('res.config.settings', 'create', {'mail_sync_approved_only': False})
    except xmlrpc.client.Fault:
        return  # refused even earlier
    refused(ben, 'res.config.settings', 'set_values', [settings])
    assert admin('ir.config_parameter', 'get_param', 'mail_sync.approved_only') == before


def _audit_settings_get_values(world, rows, ben):
    try:
        values = ben('res.config.settings', 'get_values')  # mail_sync's part: numbers and a flag
    except xmlrpc.client.Fault as fault:  # Odoo's own part reads what users may not
        assert fault.faultCode == 4
        return
    assert all(isinstance(value, (bool, int)) for key, value in values.items() if key.startswith('mail_sync_'))


def _audit_composer_read_group(world, rows, ben):
    draft = world.as_('ann')('mail.compose.message', 'create', {'subject': SECRET, 'body': SECRET})
    groups = ben('mail.compose.message', 'read_group', [], ['subject'], ['subject'])
    assert SECRET not in str(groups)
    rows['ann_draft'] = draft


def _audit_composer_message_format(world, rows, ben):
    draft = rows.get('ann_draft') or world.as_('ann')('mail.compose.message', 'create', {'subject': SECRET})
    refused(ben, 'mail.compose.message', 'message_format', [draft])


def _audit_ledger_read_group(world, rows, ben):
    groups = ben('mail.sync.ledger', 'read_group', [], ['size', 'subject'], ['subject'], lazy=False)
    assert SECRET not in str(groups)


def _audit_track_wizard(world, rows, ben):
    wizard = ben('mail.sync.track', 'create', {'ledger_ids': [(6, 0, [rows['untracked']])]})
    try:  # Ann's row is not among the wizard's emails that Ben can read: nothing to track
        ben('mail.sync.track', 'action_track', [wizard])
    except xmlrpc.client.Fault as fault:
        assert fault.faultCode == 4
    state = world.as_('admin')('mail.sync.ledger', 'read', [rows['untracked']], ['state'])[0]['state']
    assert state == 'indexed'


def _audit_migration_wizard(method):
    def attack(world, rows, ben):
        try:
            wizard = ben('mail.sync.migration.wizard', 'create', {})
        except xmlrpc.client.Fault as fault:
            assert fault.faultCode == 4
            return
        refused(ben, 'mail.sync.migration.wizard', method, [wizard])
    return attack


def _audit_map_action(world, rows, ben):
    wizard = world.as_('max')('mail.sync.mailbox.map', 'create',
                              {'user_id': world.users['ben'], 'email': world.accounts['ann']})
    refused(ben, 'mail.sync.mailbox.map', 'action_map', [wizard])


def _harmless_action(model, method, record):
    def attack(world, rows, ben):
        ids = [world.server] if record == 'server' else []
        action = ben(model, method, ids)
        assert action['type'] == 'ir.actions.act_window' and not action.get('res_id')
    return attack


def _refused_on(model, method, record, *args):
    """``method`` on ``record`` (a key of the world's or Ann's rows) is refused to Ben."""
    def attack(world, rows, ben):
        known = {'ann_box': [world.boxes['ann']], 'ben_box': [world.boxes['ben']], 'ann_user': [world.users['ann']],
                 'server': [world.server], 'none': []}
        ids = known[record] if record in known else [rows[record]]
        refused(ben, model, method, ids, *args)
    return attack


def _refused_model(model, method, *args):
    def attack(world, rows, ben):
        refused(ben, model, method, *args)
    return attack



def _audit_message_parse(model):
    """mail_sync's ``message_parse`` (on every model with a chatter) only cleans what Odoo's
    own parse returns: over RPC it reads and writes nothing, whatever it is given."""
    def attack(world, rows, ben):
        admin = world.as_('admin')
        before = admin('mail.message', 'search_count', [])
        try:
            ben(model, 'message_parse', 'From: x@example.test\r\nSubject: probe\r\n\r\nbody')
        except xmlrpc.client.Fault:
            pass  # Odoo's parse wants a parsed message object: refused, harmless
        assert admin('mail.message', 'search_count', []) == before
    return attack


def _audit_own_oauth_action(method):
    """Preferences' Connect/Disconnect act on the caller's own mailbox only: on a
    colleague's user record they are refused."""
    def attack(world, rows, ben):
        refused(ben, 'res.users', method, [world.users['ann']])
    return attack


def _odoo_rules_apply(world, rows, ben):
    """An override of an Odoo public method that adds no access of its own (calendar.event's
    write and unlink only queue meeting cancellations): Odoo's own access rules apply."""


MAILBOX = 'mail.sync.mailbox'
AUDIT = {
    ('mail.mail', 'create'): _audit_mail_create,
    ('mail.mail', 'write'): _audit_mail_write,
    ('mail.mail', 'send'): _audit_mail_send,
    ('mail.message', 'read_group'): _audit_read_group,
    ('mail.message', 'message_format'): _audit_message_format,
    # The composer (a transient copy of mail.message) inherits both overrides unchanged.
    ('mail.compose.message', 'read_group'): _audit_composer_read_group,
    ('mail.compose.message', 'message_format'): _audit_composer_message_format,
    ('mail.sync.migration.wizard', 'init'): _refused_on('mail.sync.migration.wizard', 'init', 'none'),
    ('mail.sync.conflict', 'action_open_record'): _refused_on('mail.sync.conflict', 'action_open_record', 'conflict'),
    ('mail.sync.ledger', 'init'): _refused_on('mail.sync.ledger', 'init', 'none'),
    ('mail.sync.ledger', 'action_track'): _refused_on('mail.sync.ledger', 'action_track', 'untracked'),
    ('mail.sync.ledger', 'action_untrack'): _refused_on('mail.sync.ledger', 'action_untrack', 'tracked'),
    ('mail.sync.ledger', 'action_open_document'): _refused_on('mail.sync.ledger', 'action_open_document', 'tracked'),
    ('mail.sync.ledger', 'read_group'): _audit_ledger_read_group,
    ('mail.sync.link', 'init'): _refused_on('mail.sync.link', 'init', 'none'),
    ('mail.sync.channel', 'init'): _refused_on('mail.sync.channel', 'init', 'none'),
    ('mail.sync.link', 'name_get'): _refused_on('mail.sync.link', 'name_get', 'link'),
    ('mail.sync.link', 'action_open_record'): _refused_on('mail.sync.link', 'action_open_record', 'link'),
    ('mail.sync.secret.mixin', 'init'): _refused_on('mail.sync.mailbox', 'init', 'none'),
    (MAILBOX, 'init'): _refused_on(MAILBOX, 'init', 'none'),
    (MAILBOX, 'create'): _refused_model(MAILBOX, 'create', {'user_id': 1, 'email': 'h13-ben-steals@example.test'}),
    (MAILBOX, 'write'): _refused_on(MAILBOX, 'write', 'ben_box', {'user_id': 1}),
    (MAILBOX, 'action_test_enable'): _refused_on(MAILBOX, 'action_test_enable', 'ben_box'),
    (MAILBOX, 'action_disable'): _refused_on(MAILBOX, 'action_disable', 'ann_box'),
    (MAILBOX, 'action_approve'): _refused_on(MAILBOX, 'action_approve', 'ben_box'),
    (MAILBOX, 'action_map'): _refused_on(MAILBOX, 'action_map', 'ben_box'),
    (MAILBOX, 'action_sync_now'): _refused_on(MAILBOX, 'action_sync_now', 'ann_box'),
    (MAILBOX, 'action_sync_outgoing_now'): _refused_on(MAILBOX, 'action_sync_outgoing_now', 'ann_box'),
    ('mail.sync.migration', 'action_run_test_enable'):
        _refused_model('mail.sync.migration', 'action_run_test_enable', [1]),
    ('mail.sync.server', 'init'): _refused_on('mail.sync.server', 'init', 'none'),
    ('mail.sync.server', 'action_open_field_map'):
        _harmless_action('mail.sync.server', 'action_open_field_map', 'server'),
    ('mail.sync.server', 'action_view_mailboxes'):
        _harmless_action('mail.sync.server', 'action_view_mailboxes', 'server'),
    ('mail.sync.server', 'action_test_enable_all'): _refused_on('mail.sync.server', 'action_test_enable_all', 'server'),
    ('res.config.settings', 'get_values'): _audit_settings_get_values,
    ('res.config.settings', 'set_values'): _audit_settings_set_values,
    ('res.users', 'action_mail_sync_map'): _refused_on('res.users', 'action_mail_sync_map', 'ann_user'),
    ('mail.sync.mailbox.map', 'create'): _refused_model('mail.sync.mailbox.map', 'create',
                                                         {'user_id': 1, 'email': 'h13-probe@example.test'}),
    ('mail.sync.mailbox.map', 'action_map'): _audit_map_action,
    ('mail.sync.migration.wizard', 'action_preview'): _audit_migration_wizard('action_preview'),
    ('mail.sync.migration.wizard', 'action_apply'): _audit_migration_wizard('action_apply'),
    ('mail.sync.track', 'action_track'): _audit_track_wizard,
    ('mail.sync.ledger', 'create'): _refused_model('mail.sync.ledger', 'create', {
        'mailbox_id': 1, 'folder': 'INBOX', 'message_id': '<forged@h13.test>', 'state': 'indexed'}),
    ('mail.sync.ledger', 'write'): _refused_on('mail.sync.ledger', 'write', 'untracked', {'state': 'imported'}),
    ('mail.sync.ledger', 'action_track_new_lead'): _refused_on('mail.sync.ledger', 'action_track_new_lead',
                                                               'untracked'),
    (MAILBOX, 'unlink'): _refused_on(MAILBOX, 'unlink', 'ann_box'),
    (MAILBOX, 'action_oauth_connect'): _refused_on(MAILBOX, 'action_oauth_connect', 'ann_box'),
    (MAILBOX, 'action_oauth_disconnect'): _refused_on(MAILBOX, 'action_oauth_disconnect', 'ann_box'),
    ('mail.sync.server', 'write'): _refused_on('mail.sync.server', 'write', 'server', {'name': 'taken'}),
    ('mail.sync.server', 'action_oauth_test'): _refused_on('mail.sync.server', 'action_oauth_test', 'server'),
    ('mail.sync.oauth.token', 'init'): _refused_on('mail.sync.oauth.token', 'init', 'none'),
    ('mail.sync.graph.subscription', 'init'): _refused_on('mail.sync.graph.subscription', 'init', 'none'),
    ('res.users', 'action_mail_sync_oauth_connect'): _audit_own_oauth_action('action_mail_sync_oauth_connect'),
    ('res.users', 'action_mail_sync_oauth_disconnect'): _audit_own_oauth_action('action_mail_sync_oauth_disconnect'),
    ('calendar.event', 'unlink'): _odoo_rules_apply,  # Odoo's own access rules apply
    ('calendar.event', 'write'): _odoo_rules_apply,  # Odoo's own access rules apply
}


def test_every_public_method_checks_its_caller(world, ann_rows):
    """Every public method of mail_sync's models, called by an ordinary user on someone else's
    record or with forged arguments, is refused or changes nothing. A new public method
    fails this test until it gets an entry here (with its attack)."""
    found = _public_methods()
    audit = dict(AUDIT)
    # Every model with a chatter inherits mail_sync's message_parse: one attack each.
    audit.update({key: _audit_message_parse(key[0]) for key in found if key[1] == 'message_parse'})
    assert found - set(audit) == set(), 'public methods without an audit entry: %s' % sorted(found - set(audit))
    assert set(audit) - found == set(), 'audit entries of methods that are gone: %s' % sorted(set(audit) - found)
    ben = world.as_('ben')
    rows = dict(ann_rows)
    for key in sorted(found, key=lambda key: (key[1] != 'create', key)):
        audit[key](world, rows, ben)
