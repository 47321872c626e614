"""The typed client: its connection, its calls per service, and its models.

Models are converted to and from protobuf in ``convert``; nothing else sees the wire.
"""
