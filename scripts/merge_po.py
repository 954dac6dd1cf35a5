"""Bring a translation up to date with i18n/mail_sync.pot, keeping its translations.

Run after scripts/export_pot.py: PYTHONPATH=. .venv/bin/python scripts/merge_po.py fr

The .pot gives the entries, their order and Odoo's reference comments (which Odoo needs
to import model and selection terms); the existing i18n/<lang>.po gives the translations,
matched by msgid. Strings that left the .pot are dropped; new ones come out untranslated
and are listed, so a translator fills them and runs the script again. Needs no gettext.
"""
import os
import sys

I18N = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'i18n')
ESCAPES = {'\\': '\\\\', '"': '\\"', '\n': '\\n', '\t': '\\t'}


def unquote(line):
    """The text of one quoted PO string line."""
    text = line.strip()[1:-1]
    out, i = [], 0
    while i < len(text):
        char = text[i]
        if char == '\\' and i + 1 < len(text):
            following = text[i + 1]
            out.append({'n': '\n', 't': '\t', '"': '"', '\\': '\\'}.get(following, following))
            i += 2
        else:
            out.append(char)
            i += 1
    return ''.join(out)


def quote(text):
    """``msgstr``-style lines for ``text``: one line, or one per embedded newline."""
    escaped = lambda part: '"%s"' % ''.join(ESCAPES.get(char, char) for char in part)
    if '\n' not in text.rstrip('\n'):
        return [escaped(text)]
    parts = text.splitlines(True)
    return ['""'] + [escaped(part) for part in parts]


def parse(path):
    """[(comment lines, msgid, msgstr)] in file order."""
    entries, comments, key, values = [], [], None, {'msgid': [], 'msgstr': []}

    def flush():
        if key is not None:
            entries.append((list(comments), ''.join(values['msgid']), ''.join(values['msgstr'])))

    with open(path, encoding='utf-8') as handle:
        for line in handle:
            line = line.rstrip('\n')
            if line.startswith('#') or not line.strip():
                if key == 'msgstr':
                    flush()
                    comments, key, values = [], None, {'msgid': [], 'msgstr': []}
                if line.strip():
                    comments.append(line)
            elif line.startswith('msgid '):
                key = 'msgid'
                values['msgid'].append(unquote(line[len('msgid '):]))
            elif line.startswith('msgstr '):
                key = 'msgstr'
                values['msgstr'].append(unquote(line[len('msgstr '):]))
            elif line.startswith('"'):
                values[key].append(unquote(line))
    flush()
    return entries


def merge(pot_path, po_path, language):
    old = {msgid: msgstr for _comments, msgid, msgstr in parse(po_path)} if os.path.exists(po_path) else {}
    lines, missing = [], []
    for comments, msgid, msgstr in parse(pot_path):
        if not msgid:  # the header
            # The .pot's header, with the language (Odoo takes it from the file name).
            header = ''.join(line + '\n' for line in msgstr.splitlines()
                             if not line.startswith('Language:'))
            header += 'Language: %s\n' % language
            lines += comments + ['msgid ""'] + ['msgstr ""'] + quote(header)[1:] + ['']
            continue
        translated = old.get(msgid, '')
        if not translated:
            missing.append(msgid)
        lines += comments + ['msgid ' + quote(msgid)[0]] if len(quote(msgid)) == 1 else \
            comments + ['msgid ""'] + quote(msgid)[1:]
        lines += ['msgstr ' + quote(translated)[0]] if len(quote(translated)) == 1 else \
            ['msgstr ""'] + quote(translated)[1:]
        lines.append('')
    with open(po_path, 'w', encoding='utf-8') as handle:
        handle.write('\n'.join(lines))
    return missing


def main(argv):
    if len(argv) != 1:
        sys.exit('usage: scripts/merge_po.py LANGUAGE (e.g. fr)')
    language = argv[0]
    missing = merge(os.path.join(I18N, 'mail_sync.pot'), os.path.join(I18N, language + '.po'), language)
    for msgid in missing:
        print('untranslated: %r' % msgid)
    print('i18n/%s.po: %d untranslated' % (language, len(missing)))
    return 1 if missing else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
