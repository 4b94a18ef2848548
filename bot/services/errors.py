class UserError(Exception):
    """Something the person asked for cannot be done; the message tells them why, in plain words."""
