"""Events published by the tasks service."""
