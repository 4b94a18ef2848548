"""The local PagerDuty Events API v2 lives with the emulator (the demo pages through it too): one fake, not two."""

from bot.emulator.pagerduty import Failure, FakePagerDuty, PdAlert

__all__ = ["Failure", "FakePagerDuty", "PdAlert"]
