"""Events published by the notify service."""
