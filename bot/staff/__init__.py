"""The staff side over HTTP: the staff API under ``/api/v1`` (``bot/staff/api.py``)."""
