class UserError(Exception):
    """Something the person asked for cannot be done; the message tells them why, in plain words."""


class AlreadyHandled(Exception):
    """The same request (a click, by its action_ts) was applied before: a replay changes nothing."""
