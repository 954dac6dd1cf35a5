"""Never sent twice: an outgoing worker process running the mailbox's queue_job job as the
job runner does is killed just before and just after each of its commits (the job's own
start and end too) while sending an email, and right after each of its network side effects
(the SMTP server accepted the email; its copy was appended to Sent), then resumed. Each
recipient receives the email once (counted in their Dovecot Inbox), or, when the kill fell
between the start of the transfer and the server's answer, at most once with the author
told to check ("uncertain") instead of a resend. The recovery (settling an interrupted
sending) is killed again at each of its own commits. A run after a kill first recovers the
dead worker's job as production does (tests/kill_driver.py)."""
import os

import odoo
import pytest

from .kill_driver import commits, effects, kill_then_resume, kill_worker, killed_again, run_worker


OUTGOING = ('--channel', 'outgoing', '--job')  # the mailbox's outgoing job, run as the runner runs it


def _worker(mailbox_id, *options):
    return run_worker(mailbox_id, *(OUTGOING + options))


@pytest.fixture(scope='module')
def sender(mail_servers):
    """A committed rep with an outgoing mailbox, and a customer with a real mailbox."""
    registry = odoo.registry(os.environ['MAIL_SYNC_TEST_DB'])
    login, password = mail_servers.new_account()
    customer_login, _password = mail_servers.new_account()
    other_login, _password = mail_servers.new_account()
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
        other = env['res.partner'].create({'name': 'Kill Colleague', 'email': other_login})
        cr.commit()
        ids = {'server': server.id, 'rep': rep.id, 'box': box.id, 'customer': customer.id, 'other': other.id}
    yield registry, ids, (login, customer_login, other_login)
    with odoo.api.Environment.manage(), registry.cursor() as cr:
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
        env['mail.sync.mailbox'].browse(ids['box']).unlink()
        env['mail.sync.server'].browse(ids['server']).unlink()
        env['res.partner'].browse([ids['customer'], ids['other']]).unlink()
        env['res.users'].browse(ids['rep']).active = False


def _post(sender, text):
    registry, ids, _login = sender
    with odoo.api.Environment.manage(), registry.cursor() as cr:
        env = odoo.api.Environment(cr, ids['rep'], {})
        message = env['res.partner'].browse(ids['customer']).message_post(
            body=text, subject=text, message_type='comment', subtype='mail.mt_comment',
            partner_ids=[ids['customer'], ids['other']])
        cr.commit()
        return message.message_id


def _count(mail_servers, login, folder, message_id):
    client = mail_servers.dovecot.imap(login)
    try:
        client.select(folder, readonly=True)
        typ, data = client.uid('SEARCH', 'HEADER', 'Message-ID', '"%s"' % message_id)
        return len(data[0].split())
    finally:
        client.logout()


def _outcome(sender, mail_servers, message_id):
    """(copies received by the customer, by the colleague), outbox states."""
    registry, ids, (login, customer_login, other_login) = sender
    delivered = _count(mail_servers, customer_login, 'INBOX', message_id)
    assert _count(mail_servers, other_login, 'INBOX', message_id) == delivered, 'recipients differ'
    with registry.cursor() as cr:
        cr.execute("SELECT state FROM mail_sync_outbox WHERE message_id = %s", [message_id])
        states = [row[0] for row in cr.fetchall()]
    return delivered, states


def _sent_copies(sender, mail_servers, message_id):
    return _count(mail_servers, sender[2][0], 'Sent', message_id)


def test_killed_at_each_commit_point_never_sends_twice(sender, mail_servers):
    box = sender[1]['box']
    plain = _post(sender, 'Uninterrupted')
    count = commits(_worker(box))
    assert _outcome(sender, mail_servers, plain) == (1, ['sent'])
    assert count >= 5  # job started, point of no return, sent, end of cycle, job done
    outcomes = {}
    for when in ('before', 'after'):
        for kill_at in range(1, count + 1):
            message_id = _post(sender, 'Kill %s %d' % (when, kill_at))
            kill_then_resume(box, kill_at, when, *OUTGOING)
            delivered, states = _outcome(sender, mail_servers, message_id)
            outcomes[(when, kill_at)] = (delivered, states)
            assert delivered <= 1, 'sent twice when killed %s commit %d' % (when, kill_at)
            assert states in (['sent'], ['uncertain']), states
            assert (delivered, states[0]) in ((1, 'sent'), (0, 'uncertain')), (when, kill_at, delivered, states)
    # Killed after the server accepted, before recording it: found in Sent, not resent.
    assert outcomes[('before', 3)] == (1, ['sent'])
    # Killed at the point of no return (after the job's start), before the transfer: the
    # author is asked to check.
    assert outcomes[('after', 2)] == (0, ['uncertain'])


def test_killed_right_after_each_network_side_effect_never_sends_twice(sender, mail_servers):
    """Between two commits, two network side effects: the SMTP server accepted the email,
    then its copy went to the Sent folder. Killed right after either, the resumed worker
    never sends again: with no copy in Sent it asks the author to check; with the copy
    there it records the email as sent, and appends no second copy."""
    box = sender[1]['box']
    plain = _post(sender, 'Uninterrupted effects')
    count = effects(_worker(box))
    assert count == 2, count  # SMTP submission, APPEND to Sent
    assert (_outcome(sender, mail_servers, plain), _sent_copies(sender, mail_servers, plain)) == ((1, ['sent']), 1)
    outcomes = {}
    for effect in range(1, count + 1):
        message_id = _post(sender, 'Kill after effect %d' % effect)
        kill_worker(box, ('--kill-after-effect', effect), *OUTGOING)
        commits(_worker(box, '--after-kill'))
        outcomes[effect] = _outcome(sender, mail_servers, message_id), _sent_copies(sender, mail_servers, message_id)
    assert outcomes == {1: ((1, ['uncertain']), 0), 2: ((1, ['sent']), 1)}, outcomes


@pytest.mark.parametrize('first, outcome', [
    # Killed right after its copy was appended to Sent: the settling finds it there.
    (('--kill-after-effect', 2), ((1, ['sent']), 1)),
    # Killed at the point of no return, before the transfer: the author is asked to check.
    (('--kill-at', 2, '--when', 'after'), ((0, ['uncertain']), 0)),
], ids=['copy-saved', 'point-of-no-return'])
def test_settling_an_interrupted_sending_killed_at_each_of_its_commits(sender, mail_servers, first, outcome):
    """The recovery path itself (a row left in 'submitting') is killed before and after
    each of its own commits, then resumed: the same single outcome, never a resend."""
    box, posted = sender[1]['box'], {}

    def new_mailbox(tag):
        posted[tag] = _post(sender, 'Settle %s %s' % (first[0], tag))
        return box

    def end_state(_box, tag):
        return _outcome(sender, mail_servers, posted[tag]), _sent_copies(sender, mail_servers, posted[tag])
    killed_again(new_mailbox, end_state, lambda tag: outcome, first, 4, *OUTGOING, name='settle')
