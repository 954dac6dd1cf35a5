from . import oauth
from . import graph_notify
