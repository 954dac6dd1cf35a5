"""A handful of realistic emails for the demo mailbox."""
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
import datetime

DEMO_MESSAGES = [
    ('Maria Lopez <maria.lopez@azure-interior.example>', 'Quote for 12 office chairs',
     'Hello,\n\nCould you send us a quote for 12 ergonomic office chairs, delivered to our\n'
     'Barcelona office before the end of the month?\n\nBest regards,\nMaria Lopez\n'
     'Purchasing, Azure Interior'),
    ('Tom Becker <tom@deco-addict.example>', 'Re: Delivery of order SO042',
     'Hi,\n\nThe pallets arrived this morning, thank you. One desk has a scratched top:\n'
     'photos attached in the next mail. How do we arrange a replacement?\n\nTom'),
    ('Aiko Tanaka <aiko.tanaka@gemini-furniture.example>', 'Meeting next Tuesday?',
     'Dear team,\n\nWould Tuesday 10:00 work for a call about the 2027 framework contract?\n'
     'I can send an invitation once you confirm.\n\nKind regards,\nAiko'),
    ('Newsletter <news@office-trends.example>', 'Office Trends weekly: 5 ideas for hybrid work',
     'This week: standing desks, quiet booths and the return of the open plan.\n'
     'Unsubscribe: https://office-trends.example/unsubscribe'),
    ('Lars Nilsen <lars.nilsen@ready-mat.example>', 'Invoice INV/2026/0187 question',
     'Hello,\n\nOur accounting sees two lines for the same delivery on invoice INV/2026/0187.\n'
     'Could you check and send a corrected invoice?\n\nThanks,\nLars'),
]


def demo_messages(to_address):
    """Yield raw RFC 5322 messages (bytes), oldest first."""
    now = datetime.datetime.now(datetime.timezone.utc)
    for age, (sender, subject, body) in enumerate(reversed(DEMO_MESSAGES)):
        msg = EmailMessage()
        msg['From'] = sender
        msg['To'] = to_address
        msg['Subject'] = subject
        msg['Date'] = format_datetime(now - datetime.timedelta(hours=5 * (len(DEMO_MESSAGES) - age)))
        msg['Message-ID'] = make_msgid(domain=sender.split('@')[1].rstrip('>'))
        msg.set_content(body)
        yield msg.as_bytes()
