"""`nuanliu`: the operators' command line.

nuanliu run                      the whole development stack (Ctrl-C stops it)
nuanliu migrate [SERVICE ...]    bring databases to the newest schema
nuanliu makemigration SERVICE -m MESSAGE
nuanliu seed                     demo data (orgs only the first time)
nuanliu token --role R --org O --sub S [--name N]
nuanliu relay SERVICE            the outbox relay of one service
nuanliu consume CONSUMER         an event consumer (e.g. notify)
nuanliu worker                   the transfer Temporal worker
nuanliu dlq list CONSUMER        what waits in a consumer's dead-letter queue
nuanliu dlq replay CONSUMER      publish those events again (after the cause is fixed)
nuanliu db roles [SERVICE ...]   a PostgreSQL role per service owning its schema (search path by role)
"""

from __future__ import annotations

import argparse
import os
import sys

from deploy import processes
from deploy.processes import CONSUMERS, PUBLISHERS
from shared.auth import ROLES, issue_token
from shared.db import make_revision
from shared.settings import SERVICES, Settings, parse_duration


def cmd_migrate(args: argparse.Namespace) -> None:
    processes.migrate_services(args.services or SERVICES)


def cmd_makemigration(args: argparse.Namespace) -> None:
    app_module = processes.service_module(args.service, "app")
    database = app_module.open_database(processes.settings_of(args.service))
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


def cmd_relay(args: argparse.Namespace) -> None:
    processes.run_relay(args.service)


def cmd_consume(args: argparse.Namespace) -> None:
    processes.run_consumer(args.consumer)


def cmd_worker(args: argparse.Namespace) -> None:
    processes.run_worker(args.service)


def cmd_dlq(args: argparse.Namespace) -> None:
    from shared.bus import Topology, dead_letters

    settings = processes.settings_of(args.consumer)
    topology = Topology(settings.broker_prefix)
    if args.action == "list":
        letters = dead_letters.peek(settings.amqp_url, topology, args.consumer, limit=args.limit or 100)
        total = dead_letters.depth(settings.amqp_url, topology, args.consumer)
        print(f"{total} dead letter(s) for {args.consumer}; the oldest {len(letters)}:")
        for letter in letters:
            print(f"  {letter.message_id}  {letter.event_type}  {letter.reason} x{letter.deaths}")
    else:
        count = dead_letters.replay(settings.amqp_url, topology, args.consumer, limit=args.limit)
        print(f"replayed {count} dead letter(s) of {args.consumer}")


def cmd_db_roles(args: argparse.Namespace) -> None:
    from deploy import db_roles

    admin_url = os.environ.get("DATABASE_URL")
    if not admin_url:
        sys.exit("nuanliu db roles needs DATABASE_URL: the shared PostgreSQL database, as its administrator")
    for made in db_roles.ensure_roles(admin_url, args.services or SERVICES):
        print(f"{made.service.upper()}_DATABASE_URL={made.url}")
    print("NUANLIU_DB_SEARCH_PATH=role")


def cmd_run(args: argparse.Namespace) -> None:
    from deploy import launcher

    sys.exit(launcher.run())


def main(argv: list[str] | None = None) -> None:
    # Every file an operator command or a process it starts creates (SQLite databases, the SMS
    # log, the stack's logs) is readable by its owner alone.
    os.umask(0o077)
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

    p = commands.add_parser("dlq", help="inspect or replay a consumer's dead-letter queue")
    p.add_argument("action", choices=("list", "replay"))
    p.add_argument("consumer", choices=CONSUMERS)
    p.add_argument("--limit", type=int, help="at most this many messages")
    p.set_defaults(func=cmd_dlq)

    p = commands.add_parser("db", help="database administration")
    p.add_argument("action", choices=("roles",))
    p.add_argument("services", nargs="*", metavar="SERVICE", help=", ".join(SERVICES))
    p.set_defaults(func=cmd_db_roles)

    args = parser.parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    main()
