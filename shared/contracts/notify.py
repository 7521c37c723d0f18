"""Events published by the notify service (none yet: it is the end of the line)."""
