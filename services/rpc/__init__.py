"""gRPC plumbing shared by every servicer and by the shim's client side: rich error
statuses, the interceptor that applies them, page tokens, proto enum tables."""
