"""gRPC servicers: decode and validate requests, call orchestration and storage, encode answers."""
