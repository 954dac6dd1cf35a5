"""A handful of realistic emails for the demo mailbox."""
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
import datetime

# The Odoo email the demo's first message replies to: posted on the chairs opportunity
# by `make run` (devstack/crm_demo.py) with this Message-ID.
QUOTE_MESSAGE_ID = '<demo-quote-office-chairs@mail-sync.demo>'

# (sender, subject, body, In-Reply-To). With the demo user's rule "known contacts and
# leads": the reply lands on its opportunity, Aiko's and Lars's email on their open
# opportunity and lead, and Tom's and the newsletter stay untracked (Track, or Track as
# New Lead, in My Mailbox).
DEMO_MESSAGES = [
    ('Maria Lopez <maria.lopez@azure-interior.example>', 'Re: Your quote for 12 ergonomic office chairs',
     'Hello,\n\nThank you for the quote. If you can confirm delivery to our Barcelona office\n'
     'before the 20th, we will sign it this week.\n\nBest regards,\nMaria Lopez\n'
     'Purchasing, Azure Interior', QUOTE_MESSAGE_ID),
    ('Tom Becker <tom@deco-addict.example>', 'Showroom furniture for our new store',
     'Hi,\n\nWe open a second store in Lyon in March and need showroom furniture:\n'
     'about 15 desks and 40 chairs. Could someone call me this week?\n\nTom', None),
    ('Aiko Tanaka <aiko.tanaka@gemini-furniture.example>', 'Meeting next Tuesday?',
     'Dear team,\n\nWould Tuesday 10:00 work for a call about the 2027 framework contract?\n'
     'I can send an invitation once you confirm.\n\nKind regards,\nAiko', None),
    ('Newsletter <news@office-trends.example>', 'Office Trends weekly: 5 ideas for hybrid work',
     'This week: standing desks, quiet booths and the return of the open plan.\n'
     'Unsubscribe: https://office-trends.example/unsubscribe', None),
    ('Lars Nilsen <lars.nilsen@ready-mat.example>', 'Floor plans of our meeting rooms',
     'Hello,\n\nAs promised, the floor plans of the three meeting rooms we want to refurbish\n'
     'are below. Could you propose tables and chairs for 8, 12 and 20 people?\n\nThanks,\nLars',
     None),
]


def demo_messages(to_address):
    """Yield raw RFC 5322 messages (bytes), oldest first."""
    now = datetime.datetime.now(datetime.timezone.utc)
    for age, (sender, subject, body, in_reply_to) in enumerate(reversed(DEMO_MESSAGES)):
        msg = EmailMessage()
        msg['From'] = sender
        msg['To'] = to_address
        msg['Subject'] = subject
        msg['Date'] = format_datetime(now - datetime.timedelta(hours=5 * (len(DEMO_MESSAGES) - age)))
        msg['Message-ID'] = make_msgid(domain=sender.split('@')[1].rstrip('>'))
        if in_reply_to:
            msg['In-Reply-To'] = msg['References'] = in_reply_to
        msg.set_content(body)
        yield msg.as_bytes()
