"""Kept for `nuanliu worker notify`, which imports `services.<name>.worker`: the process is the dispatcher's."""

from services.notify.dispatcher_process import main as main
