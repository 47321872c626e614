"""Generated protobuf and gRPC modules of the ``runplane.v1`` contract.

Regenerate with ``python scripts/gen_protos.py``; never edit by hand.
"""
