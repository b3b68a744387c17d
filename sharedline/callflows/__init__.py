"""Call flows: admins' YAML → a typed, checked document → a pure interpreter (sans-IO).

``model`` is the document (and its JSON Schema), ``loader`` reads and checks files with
``FILE:LINE:COLUMN path: message`` errors, ``schedule`` and ``strategies`` are the pure pieces
the ``interpreter`` decides with; every backend (the SIP switch, Asterisk, Twilio) turns the
interpreter's actions into its own terms.
"""
