"""The Responses API's domain: output items assembled from a run's events, and items as chat
history. No HTTP and no gRPC servicers here: the shim and the executor both build on it."""
