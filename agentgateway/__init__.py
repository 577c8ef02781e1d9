"""Generated from proto/agentgateway. Do not edit: run `make proto`."""
