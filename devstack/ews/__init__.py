"""A test EWS endpoint that the real exchangelib 5.0.3 works against unchanged.

Test infrastructure only (never imports odoo). Modules:
- server.py: HTTP and HTTPS on 127.0.0.1 (free ports), fault injection, call log;
- auth.py, ntlm.py: Basic, and NTLMv2 verified against the account's password;
- soap.py: envelopes, response messages, SOAP faults, ServerVersionInfo (Exchange 2016);
- operations/: one module per family of EWS operations;
- shapes.py, restriction.py: item and folder XML by shape, FindItem restrictions;
- store.py: mailboxes, folders, items, change numbers, the record of meeting-message
  settings (``meeting_messages``), and the test API acting as the user in Outlook
  (deliver, add_category, move, delete, create, modify_occurrence, contents...);
- calendar_items.py: UID and Organizer, recurring masters, occurrences, exceptions,
  deleted occurrences and the expanded CalendarView;
- recurrence.py: recurrence patterns and ranges, Windows time zones, DST-correct instants;
- syncstate.py: opaque, signed SyncFolderItems states;
- delivery.py: MIME of sent messages and delivery to mailboxes of this server;
- autodiscover.py, dns_server.py: SOAP Autodiscover and the DNS/proxy around it;
- control.py, __main__.py: the same endpoint as a separate process;
- pytest_fixtures.py: the session fixture ``ews_server``.
"""
