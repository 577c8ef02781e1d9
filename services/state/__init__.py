"""Shared state across replicas: the Redis connection the stores use when GATEWAY_STATE_URL is set.

Every piece of cross-request state sits behind a store interface whose default is embedded
(in memory, or SQLite in the data dir). ``stores.open_stores`` picks the implementation once at
start-up; nothing else in the gateway knows whether it is alone.
"""
