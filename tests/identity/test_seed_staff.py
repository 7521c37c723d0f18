"""The demo staff directory is seeded from the dev provider's users, once."""

from sqlalchemy import select

from deploy.seed import seed_orgs, seed_staff
from services.registration.models import StaffAssignment


def test_seed_staff_assigns_every_demo_role_once(migrated):
    database = migrated("registration")
    seed_orgs(database)
    seed_staff(database)
    assert seed_staff(database) == 0
    with database.reader() as session:
        rows = {(row.subject, row.org_code, row.role) for row in session.scalars(select(StaffAssignment))}
    assert ("sec-wq-yc-01", "TJ-WQ-YC-01", "branch_secretary") in rows
    assert ("sec-wq-yc-01", "TJ-WQ-XZ-01", "branch_secretary") in rows
    assert ("dept-lc", "HB-LC", "org_department") in rows
