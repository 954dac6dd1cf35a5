"""Track exactly once under SIGKILL: the owner tracks four emails of their mailbox (one on
a contact they pick, three where the rules say: new contacts for unknown senders); the
mailbox's Track job, run as the job runner runs it (``--job --channel track``), is killed
just before and just after each of its commits (queue_job's own too), then resumed as
production resumes it (the dead job requeued by the safety net, run again). Every email
ends up tracked once, on the right record, and each unknown sender became one contact,
never two."""
import os

import odoo
import pytest

from .common import enabled_mailbox
from .kill_driver import at_each_commit, commits, run_worker
from .test_incoming import raw_mail

COUNT = 4
OPTIONS = ('--job', '--channel', 'track')


@pytest.fixture(scope='module')
def world(mail_servers):
    registry = odoo.registry(os.environ['MAIL_SYNC_TEST_DB'])
    with odoo.api.Environment.manage(), registry.cursor() as cr:
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
        server = env['mail.sync.server'].create({
            'name': 'Track kill test', 'server_type': 'imap', 'incoming_host': 'localhost',
            'incoming_port': mail_servers.dovecot.ports['imap'], 'incoming_encryption': 'none'})
        chosen = env['res.partner'].create({'name': 'Chosen for the track kill test'})
        cr.commit()
        ids = {'server': server.id, 'chosen': chosen.id}
    created = []
    yield registry, ids, created
    with odoo.api.Environment.manage(), registry.cursor() as cr:
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
        env['mail.sync.mailbox'].browse(created).unlink()
        env['mail.sync.server'].browse(ids['server']).unlink()
        cr.commit()


def _sender(tag, n):
    return 'sender-%s-%d@track-kill.test' % (tag, n)


def _new_mailbox(world, mail_servers, tag):
    """A mailbox whose four emails (from unknown senders, so only indexed) the owner has
    just asked to track: rows Being Tracked, the Track job pending."""
    registry, ids, created = world
    login, password = mail_servers.new_account()
    mail_servers.dovecot.append_many(login, [
        raw_mail('Sender %d <%s>' % (n, _sender(tag, n)), 'Enquiry %d' % n, '<%s-%d@track-kill.test>' % (tag, n))
        for n in range(COUNT)])
    with odoo.api.Environment.manage(), registry.cursor() as cr:
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
        box = enabled_mailbox(env, ids['server'], login, password, 'Track kill %s' % tag, 'track-kill-%s' % tag)
        box.user_id.mail_sync_track = 'none'
        cr.commit()
        created.append(box.id)
        box_id = box.id
    commits(run_worker(box_id, '--job'))  # the incoming job indexes the four emails
    with odoo.api.Environment.manage(), registry.cursor() as cr:
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
        box = env['mail.sync.mailbox'].browse(box_id)
        rows = env['mail.sync.ledger'].search([('mailbox_id', '=', box_id)], order='uid')
        assert rows.mapped('state') == ['indexed'] * COUNT, rows.mapped('state')
        owner = box.user_id.id
        chosen = env['res.partner'].browse(ids['chosen'])
        rows[:1].sudo(owner)._request_track(target=chosen)  # Track On... the chosen contact
        rows[1:].sudo(owner)._request_track()
        cr.commit()
    return box_id


def _end_state(world, box_id, tag):
    with world[0].cursor() as cr:
        cr.execute("""SELECT l.message_id, l.state, l.model, l.res_id = %s, l.track_error
                      FROM mail_sync_ledger l WHERE l.mailbox_id = %s ORDER BY l.uid""",
                   [world[1]['chosen'], box_id])
        ledger = cr.fetchall()
        cr.execute("""SELECT message_id, count(*) FROM mail_message WHERE message_id LIKE %s
                      GROUP BY message_id""", ['<%s-%%' % tag])
        messages = dict(cr.fetchall())
        cr.execute("""SELECT email, count(*) FROM res_partner WHERE email LIKE %s GROUP BY email""",
                   ['sender-%s-%%' % tag])
        contacts = dict(cr.fetchall())
        cr.execute("""SELECT state, count(*) FROM queue_job WHERE identity_key = %s AND state != 'done'
                      GROUP BY state""", ['mail_sync.track.%d' % box_id])
        live_jobs = dict(cr.fetchall())
    return ledger, messages, contacts, live_jobs


def _expected(tag):
    ledger = [('<%s-%d@track-kill.test>' % (tag, n), 'imported', 'res.partner', n == 0, None) for n in range(COUNT)]
    messages = {'<%s-%d@track-kill.test>' % (tag, n): 1 for n in range(COUNT)}
    contacts = {_sender(tag, n): 1 for n in range(1, COUNT)}  # the first went on the chosen contact
    return ledger, messages, contacts, {}


def test_uninterrupted_track_job_tracks_each_email_once(world, mail_servers):
    box = _new_mailbox(world, mail_servers, 'tplain')
    out = run_worker(box, *OPTIONS)
    commits(out)
    assert 'job=done' in out and 'jobs=done:1 ' in out, out[-3000:]
    assert _end_state(world, box, 'tplain') == _expected('tplain')


@pytest.mark.parametrize('when', ['before', 'after'])
def test_track_job_killed_at_each_commit_point_then_resumed(world, mail_servers, when):
    # The job's start, one commit per email, the job's end.
    at_each_commit(lambda tag: _new_mailbox(world, mail_servers, 't' + tag),
                   lambda box, tag: _end_state(world, box, 't' + tag), lambda tag: _expected('t' + tag),
                   when, COUNT + 2, *OPTIONS)
