"""`nuanliu`: the operators' command line.

nuanliu run                      the whole development stack (Ctrl-C stops it)
nuanliu migrate [SERVICE ...]    bring databases to the newest schema
nuanliu makemigration SERVICE -m MESSAGE
nuanliu seed                     demo data (orgs only the first time)
nuanliu token --role R --org O --sub S [--name N]
nuanliu relay SERVICE            the outbox relay of one service
nuanliu consume CONSUMER         an event consumer (e.g. notify)
nuanliu worker                   the transfer Temporal worker
"""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
from collections.abc import Callable
from types import FrameType, ModuleType

from shared.auth import ROLES, issue_token
from shared.db import make_revision, migrate
from shared.logging import configure_logging
from shared.settings import SERVICES, Settings, parse_duration

# The services with an outbox to relay, and those with an event consumer.
PUBLISHERS = ("registration", "transfer", "tasks")
CONSUMERS = ("notify",)


def service_module(service: str, module: str) -> ModuleType:
    return importlib.import_module(f"services.{service}.{module}")


def cmd_migrate(args: argparse.Namespace) -> None:
    for service in args.services or SERVICES:
        app_module = service_module(service, "app")
        database = app_module.open_database(Settings.from_env(service))
        migrate(database, app_module.MIGRATIONS)
        database.dispose()
        print(f"migrated {service}")


def cmd_makemigration(args: argparse.Namespace) -> None:
    app_module = service_module(args.service, "app")
    database = app_module.open_database(Settings.from_env(args.service))
    make_revision(database, app_module.MIGRATIONS, args.message)


def cmd_seed(args: argparse.Namespace) -> None:
    from deploy import seed

    seed.seed_all(force=args.force)


def cmd_token(args: argparse.Namespace) -> None:
    settings = Settings.from_env("cli")
    print(
        issue_token(
            settings.jwt_secret, args.sub, args.role, args.org, args.name, ttl=parse_duration(args.ttl)
        )
    )


def _stop_on_signals(stop: Callable[[], None]) -> None:
    def handler(_signum: int, _frame: FrameType | None) -> None:
        stop()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def cmd_relay(args: argparse.Namespace) -> None:
    from shared.bus import Publisher, Topology
    from shared.outbox import Relay

    settings = Settings.from_env(args.service)
    configure_logging(f"{args.service}-relay")
    database = service_module(args.service, "app").open_database(settings)
    outbox = service_module(args.service, "models").outbox
    relay = Relay(
        database,
        outbox,
        Publisher(settings.amqp_url, Topology(settings.broker_prefix)),
        batch_size=settings.relay_batch_size,
    )
    _stop_on_signals(relay.stop)
    relay.run_forever(settings.relay_poll_interval)


def cmd_consume(args: argparse.Namespace) -> None:
    consumer_module = service_module(args.consumer, "consumer")
    configure_logging(f"{args.consumer}-consumer")
    consumer = consumer_module.build_consumer(Settings.from_env(args.consumer))
    _stop_on_signals(consumer.stop)
    consumer.run_forever()


def cmd_worker(args: argparse.Namespace) -> None:
    configure_logging(f"{args.service}-worker")
    service_module(args.service, "worker").main(Settings.from_env(args.service))


def cmd_run(args: argparse.Namespace) -> None:
    from deploy import launcher

    sys.exit(launcher.run())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="nuanliu", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)

    commands.add_parser("run", help="run the whole development stack").set_defaults(func=cmd_run)

    p = commands.add_parser("migrate", help="migrate service databases")
    p.add_argument("services", nargs="*", metavar="SERVICE", help=", ".join(SERVICES))
    p.set_defaults(func=cmd_migrate)

    p = commands.add_parser("makemigration", help="autogenerate a migration for one service")
    p.add_argument("service", choices=SERVICES)
    p.add_argument("-m", "--message", required=True)
    p.set_defaults(func=cmd_makemigration)

    p = commands.add_parser("seed", help="load demo data")
    p.add_argument("--force", action="store_true", help="seed members again even if present")
    p.set_defaults(func=cmd_seed)

    p = commands.add_parser("token", help="issue a development token")
    p.add_argument("--role", required=True, choices=ROLES)
    p.add_argument("--org", required=True)
    p.add_argument("--sub", required=True)
    p.add_argument("--name")
    p.add_argument("--ttl", default="12h")
    p.set_defaults(func=cmd_token)

    p = commands.add_parser("relay", help="run one service's outbox relay")
    p.add_argument("service", choices=PUBLISHERS)
    p.set_defaults(func=cmd_relay)

    p = commands.add_parser("consume", help="run an event consumer")
    p.add_argument("consumer", choices=CONSUMERS)
    p.set_defaults(func=cmd_consume)

    p = commands.add_parser("worker", help="run a service's Temporal worker (workflows, schedules)")
    p.add_argument("service", nargs="?", default="transfer", choices=SERVICES)
    p.set_defaults(func=cmd_worker)

    args = parser.parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    main()
