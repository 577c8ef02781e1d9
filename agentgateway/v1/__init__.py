"""Generated from proto/agentgateway/v1. Do not edit: run `make proto`."""
