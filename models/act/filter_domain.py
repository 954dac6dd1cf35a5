"""The filters users write for appointments, contacts and tasks, read as data.

A filter is an Odoo domain written as a Python literal: a list of ``(field, operator,
value)`` triples and the operators ``'&'``, ``'|'``, ``'!'``. Its text is parsed, never
evaluated: only literals (strings, numbers, True/False/None, lists and tuples of them)
and a few names standing for values of the mailbox's user (``uid``, ``user.id``,
``user.partner_id.id``...) are accepted; any call, operator or other name is refused
before anything runs. Size is bounded (characters and conditions).

>>> parse_filter("[('user_id', '=', user.id), ('date', '>=', '2030-01-01')]", {'user.id': 7})
[('user_id', '=', 7), ('date', '>=', '2030-01-01')]
>>> try:
...     parse_filter("sum(range(4*10**7))", {})
... except FilterError as error:
...     print(error.code, error.detail)
not_literal sum(...)
"""
import ast

MAX_CHARS = 2000
MAX_CONDITIONS = 50
OPERATORS = ('&', '|', '!')


class FilterError(ValueError):
    """``code`` says what is wrong ('too_long', 'syntax', 'not_literal', 'unknown_name',
    'not_domain', 'too_many'); ``detail`` the part of the text at fault."""

    def __init__(self, code, detail=''):
        super(FilterError, self).__init__(code, detail)
        self.code, self.detail = code, detail


def user_names(user):
    """The names a filter may use for ``user`` (a res.users record) and their values."""
    return {
        'uid': user.id, 'user.id': user.id, 'user.name': user.name or '', 'user.login': user.login or '',
        'user.email': user.email or '', 'user.partner_id.id': user.partner_id.id,
        'user.company_id.id': user.company_id.id, 'user.company_ids.ids': list(user.company_ids.ids),
    }


def parse_filter(text, names):
    """The domain (a list) written in ``text``, with ``names`` (dotted name -> value)
    substituted; FilterError otherwise."""
    text = (text or '').strip()
    if len(text) > MAX_CHARS:
        raise FilterError('too_long', str(MAX_CHARS))
    if not text:
        return []
    try:
        tree = ast.parse(text, mode='eval')
    except (SyntaxError, ValueError, MemoryError, RecursionError) as error:
        raise FilterError('syntax', getattr(error, 'msg', None) or str(error) or 'too deeply nested')
    value = _literal(tree.body, names)
    if not isinstance(value, (list, tuple)):
        raise FilterError('not_domain', text)
    domain, conditions = [], 0
    for element in value:
        if isinstance(element, str) and element in OPERATORS:
            domain.append(element)
            continue
        if not (isinstance(element, (list, tuple)) and len(element) == 3 and isinstance(element[0], str)
                and isinstance(element[1], str)):
            raise FilterError('not_domain', repr(element))
        conditions += 1
        if conditions > MAX_CONDITIONS:
            raise FilterError('too_many', str(MAX_CONDITIONS))
        domain.append(tuple(element))
    return domain


def _dotted(node):
    """``user.partner_id.id`` for an Attribute/Name chain, else None."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    return '.'.join(reversed(parts))


def _literal(node, names):
    if isinstance(node, (ast.List, ast.Tuple)):
        values = [_literal(element, names) for element in node.elts]
        return values if isinstance(node, ast.List) else tuple(values)
    constant = getattr(ast, 'Constant', None)
    if constant is not None and isinstance(node, constant) and not isinstance(node.value, (bytes, complex)) \
            and node.value is not Ellipsis:
        return node.value
    if isinstance(node, ast.Str):
        return node.s
    if isinstance(node, ast.Num) and not isinstance(node.n, complex):
        return node.n
    if isinstance(node, ast.NameConstant):
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub) and isinstance(node.operand, ast.Num) \
            and not isinstance(node.operand.n, complex):
        return -node.operand.n
    if isinstance(node, (ast.Name, ast.Attribute)):
        name = _dotted(node)
        if name in names:
            return names[name]
        raise FilterError('unknown_name', name or type(node).__name__)
    if isinstance(node, ast.Call):
        raise FilterError('not_literal', '%s(...)' % (_dotted(node.func) or '...'))
    raise FilterError('not_literal', type(node).__name__)
