"""The team inbox: who may see and do what on a shared number, and (later) its conversations.

:mod:`.permissions` is pure: the role matrix as data, no I/O.
"""
