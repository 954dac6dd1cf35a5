"""Never sent twice: an outgoing worker process is killed just before and just after each
of its commits while sending an email, then resumed. The customer receives the email
once, or, when the kill fell between the start of the transfer and the server's answer,
at most once with the author told to check ("uncertain") instead of a resend."""
import os

import odoo
import pytest

from .kill_driver import commits, kill_then_resume, run_worker


def _worker(mailbox_id, *options):
    return run_worker(mailbox_id, '--channel', 'outgoing', *options)


@pytest.fixture(scope='module')
def sender(mail_servers):
    """A committed rep with an outgoing mailbox, and a customer with a real mailbox."""
    registry = odoo.registry(os.environ['MAIL_SYNC_TEST_DB'])
    login, password = mail_servers.new_account()
    customer_login, _password = mail_servers.new_account()
    with odoo.api.Environment.manage(), registry.cursor() as cr:
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {'mail_create_nosubscribe': True})
        server = env['mail.sync.server'].create({
            'name': 'Outgoing kill test', 'server_type': 'imap', 'incoming_host': 'localhost',
            'incoming_port': mail_servers.dovecot.ports['imap'], 'incoming_encryption': 'none',
            'outgoing_host': 'localhost', 'outgoing_port': mail_servers.smtp.port,
            'outgoing_encryption': 'none'})
        rep = env['res.users'].with_context(no_reset_password=True).create(
            {'name': 'Kill Sender', 'login': 'kill-sender', 'email': login,
             'groups_id': [(6, 0, [env.ref('base.group_user').id, env.ref('base.group_partner_manager').id])]})
        box = env['mail.sync.mailbox'].create({'user_id': rep.id, 'server_id': server.id, 'email': login,
                                               'password': password, 'outgoing_enabled': True})
        box.write({'state': 'enabled', 'approved': True, 'db_uuid': box._current_db_uuid()})
        customer = env['res.partner'].create({'name': 'Kill Customer', 'email': customer_login})
        cr.commit()
        ids = {'server': server.id, 'rep': rep.id, 'box': box.id, 'customer': customer.id}
    yield registry, ids, customer_login
    with odoo.api.Environment.manage(), registry.cursor() as cr:
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
        env['mail.sync.mailbox'].browse(ids['box']).unlink()
        env['mail.sync.server'].browse(ids['server']).unlink()
        env['res.partner'].browse(ids['customer']).unlink()
        env['res.users'].browse(ids['rep']).active = False


def _post(sender, text):
    registry, ids, _login = sender
    with odoo.api.Environment.manage(), registry.cursor() as cr:
        env = odoo.api.Environment(cr, ids['rep'], {})
        message = env['res.partner'].browse(ids['customer']).message_post(
            body=text, subject=text, message_type='comment', subtype='mail.mt_comment',
            partner_ids=[ids['customer']])
        cr.commit()
        return message.message_id


def _outcome(sender, mail_servers, message_id):
    registry, ids, customer_login = sender
    client = mail_servers.dovecot.imap(customer_login)
    try:
        client.select('INBOX', readonly=True)
        typ, data = client.uid('SEARCH', 'HEADER', 'Message-ID', '"%s"' % message_id)
        delivered = len(data[0].split())
    finally:
        client.logout()
    with registry.cursor() as cr:
        cr.execute("SELECT state FROM mail_sync_outbox WHERE message_id = %s", [message_id])
        states = [row[0] for row in cr.fetchall()]
    return delivered, states


def test_killed_at_each_commit_point_never_sends_twice(sender, mail_servers):
    box = sender[1]['box']
    plain = _post(sender, 'Uninterrupted')
    count = commits(_worker(box))
    assert _outcome(sender, mail_servers, plain) == (1, ['sent'])
    assert count >= 3  # point of no return, sent, end of cycle
    outcomes = {}
    for when in ('before', 'after'):
        for kill_at in range(1, count + 1):
            message_id = _post(sender, 'Kill %s %d' % (when, kill_at))
            kill_then_resume(box, kill_at, when, '--channel', 'outgoing')
            delivered, states = _outcome(sender, mail_servers, message_id)
            outcomes[(when, kill_at)] = (delivered, states)
            assert delivered <= 1, 'sent twice when killed %s commit %d' % (when, kill_at)
            assert states in (['sent'], ['uncertain']), states
            assert (delivered, states[0]) in ((1, 'sent'), (0, 'uncertain')), (when, kill_at, delivered, states)
    # Killed after the server accepted, before recording it: found in Sent, not resent.
    assert outcomes[('before', 2)] == (1, ['sent'])
    # Killed at the point of no return, before the transfer: the author is asked to check.
    assert outcomes[('after', 1)] == (0, ['uncertain'])


def test_killed_after_the_server_accepted_before_the_sent_copy_is_never_resent(sender, mail_servers):
    """Between two commits, two network side effects: the SMTP server accepted the email,
    then its copy goes to the Sent folder. Killed in between, the resumed worker finds no
    copy: it does not send again, and asks the author to check instead."""
    box = sender[1]['box']
    message_id = _post(sender, 'Kill before the copy')
    killed = _worker(box, '--kill-before-copy')
    assert 'commits=' not in killed, killed[-3000:]
    commits(_worker(box))
    assert _outcome(sender, mail_servers, message_id) == (1, ['uncertain'])
