"""Events published by the transfer service."""
