"""``soma dashboard``: a live Textual view of a runtime, from its database and its control
socket."""
