"""Server-side conversation state: conversations, their items, and stored responses
(``store.py``: the interface; ``sqlite_store.py``: the embedded default; ``servicer.py``:
ConversationService over gRPC)."""
