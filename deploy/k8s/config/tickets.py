"""Sample local Python tools for config/tools.yaml (``kind: python``, ``target: tickets:lookup``)."""

_TICKETS = {
    42: {"id": 42, "title": "VPN drops every hour", "status": "open", "owner": "network team"},
    7: {"id": 7, "title": "Refund for invoice 2024-113", "status": "closed", "owner": "billing"},
}


def lookup(ticket_id: int) -> dict:
    """Look up a support ticket.

    Args:
        ticket_id: The ticket number, e.g. 42.
    """
    ticket = _TICKETS.get(ticket_id)
    if ticket is None:
        raise LookupError(f"no ticket {ticket_id}")
    return ticket
