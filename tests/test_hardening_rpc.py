"""Attacks of an ordinary user (and of a manager) over XML-RPC against the real Odoo HTTP
server, each of which worked before the hardening of issue 13."""
import email
import uuid
import xmlrpc.client

import pytest


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
