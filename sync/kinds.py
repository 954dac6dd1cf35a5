"""The kinds of two-way items (appointments, contacts, tasks): one registry of what the
sync knows of each, whatever the server. A source (``ews.py``, a Graph source, the fake)
maps a kind to its own classes; the Odoo side maps it to a model and an adapter
(``models/act/``); both read the rest from here.

>>> [kind.name for kind in KINDS.values()]
['appointment', 'contact', 'task']
>>> KINDS['contact'].folder, KINDS['contact'].delete_policy, KINDS['contact'].shared_uid
('contacts', 'unlink', False)
"""
import collections


class Kind(object):
    """One kind of item.

    ``folder``: the folder it lives in (Exchange's distinguished folder id, and the role
    of the mailbox's folder row that keeps its sync state); ``fields``: its canonical
    fields (see ``items.py``); ``history``: whether a first sync leaves out what is older
    than the channel's enabling (contacts have no history to spare: all of them come);
    ``shared_uid``: items carry an iCalendar UID shared by every attendee's copy, which
    links the copies in several mapped mailboxes to one Odoo record and tells which item
    an interrupted creation made; ``series``: an item can be a recurring series with
    exceptions (modified occurrences); ``delete_policy``: what deleting the Odoo record
    does to the item: 'unlink' (the item stays, the link ends) or 'future_own' (the item
    is deleted when the user organizes it and it has not started yet, else unlinked);
    ``identity``: what tells the item an interrupted creation made from the others, for
    adoption ('uid' stands for the shared UID, other names for canonical fields).
    """

    def __init__(self, name, folder, fields, history, identity, shared_uid=False, series=False,
                 delete_policy='unlink'):
        assert delete_policy in ('unlink', 'future_own'), delete_policy
        assert set(identity) <= set(fields) | {'uid'} and ('uid' not in identity or shared_uid), identity
        self.name = name
        self.folder = folder
        self.fields = tuple(fields)
        self.history = history
        self.shared_uid = shared_uid
        self.series = series
        self.delete_policy = delete_policy
        self.identity = tuple(identity)

    def identify(self, values, uid=None):
        """The identity of an item with canonical ``values`` (and ``uid``).

        >>> KINDS['task'].identify({'subject': 'Call', 'due': None, 'notes': 'x'})
        ('Call', None)
        """
        return tuple(uid if name == 'uid' else values.get(name) for name in self.identity)

    def __repr__(self):
        return '<Kind %s>' % self.name


KINDS = collections.OrderedDict((kind.name, kind) for kind in (
    Kind('appointment', 'calendar',
         ('subject', 'start', 'end', 'all_day', 'timezone', 'location', 'body', 'attendees',
          'organizer', 'show_as', 'importance', 'recurrence'),
         history=True, identity=('uid',), shared_uid=True, series=True, delete_policy='future_own'),
    Kind('contact', 'contacts',
         ('first_name', 'last_name', 'display_name', 'company', 'job_title', 'email', 'email2',
          'email3', 'phone', 'mobile', 'home_phone', 'street', 'city', 'state', 'zip', 'country'),
         history=False, identity=('display_name', 'email')),
    Kind('task', 'tasks', ('subject', 'due', 'start', 'status', 'percent', 'notes'), history=True,
         identity=('subject', 'due')),
))
NAMES = tuple(KINDS)
FIELDS = {name: kind.fields for name, kind in KINDS.items()}
