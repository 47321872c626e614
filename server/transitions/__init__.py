"""Applying proposed states to runs inside one transaction: the rules of
:mod:`runplane.server.orchestration` over the rows of :mod:`runplane.server.db`.

No protobuf: the API layer decodes a request into a proposal, calls in here, and encodes
the answer. The server's own loops and claims propose through the same functions.
"""
