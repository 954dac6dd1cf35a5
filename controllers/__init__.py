from . import graph_notify
