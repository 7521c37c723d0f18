"""Demo data from the project's briefs: Tianjin Wuqing, Putian Beian, Lichuan (with its outflow
branches in Shaoxing and Ezhou), Xining, and receiving branches in Beijing and Shanghai.

Orgs are seeded only the first time; members are added through the same use cases the API
uses, so every change carries its events and audit entries.
"""

from __future__ import annotations

from sqlalchemy import select

from shared.auth import Principal
from shared.settings import Settings

SEED_ADMIN = Principal(sub="seed", role="admin", org="CN", name="seed")

# (code, name, level, parent, region)
ORGS: list[tuple[str, str, str, str, str | None]] = [
    ("TJ", "天津市委", "province", "CN", "12"),
    ("TJ-WQ", "武清区委组织部", "county", "TJ", "120114"),
    ("TJ-WQ-YC", "杨村街道党工委", "township", "TJ-WQ", "120114001"),
    ("TJ-WQ-YC-01", "杨村街道第一社区党支部", "branch", "TJ-WQ-YC", "120114001001"),
    ("TJ-WQ-XZ", "下朱庄街道党工委", "township", "TJ-WQ", "120114002"),
    ("TJ-WQ-XZ-01", "下朱庄街道流动党员党支部", "branch", "TJ-WQ-XZ", "120114002001"),
    ("FJ", "福建省委", "province", "CN", "35"),
    ("FJ-PT", "莆田市委", "city", "FJ", "3503"),
    ("FJ-PT-BA", "北岸经济开发区党工委组织部", "county", "FJ-PT", "350391"),
    ("FJ-PT-BA-SF", "山亭镇党委", "township", "FJ-PT-BA", "350391001"),
    ("FJ-PT-BA-SF-01", "山亭镇港里村党支部", "branch", "FJ-PT-BA-SF", "350391001001"),
    ("FJ-PT-BA-DZ", "东埔镇党委", "township", "FJ-PT-BA", "350391002"),
    ("FJ-PT-BA-DZ-01", "东埔镇吉城村党支部", "branch", "FJ-PT-BA-DZ", "350391002001"),
    ("HB", "湖北省委", "province", "CN", "42"),
    ("HB-ES", "恩施州委", "city", "HB", "4228"),
    ("HB-LC", "利川市委组织部", "county", "HB-ES", "422802"),
    ("HB-LC-DT", "都亭街道党工委", "township", "HB-LC", "422802001"),
    ("HB-LC-DT-01", "都亭街道滨江社区党支部", "branch", "HB-LC-DT", "422802001001"),
    ("HB-LC-MD", "谋道镇党委", "township", "HB-LC", "422802101"),
    ("HB-LC-MD-01", "谋道镇苏拉口村党支部", "branch", "HB-LC-MD", "422802101001"),
    ("HB-LC-MD-SX", "谋道镇驻绍兴流动党员党支部", "branch", "HB-LC-MD", "330602"),
    ("HB-LC-MD-EZ", "谋道镇驻鄂州流动党员党支部", "branch", "HB-LC-MD", "420700"),
    ("ZJ", "浙江省委", "province", "CN", "33"),
    ("ZJ-SX", "绍兴市委", "city", "ZJ", "3306"),
    ("ZJ-SX-YC", "越城区委组织部", "county", "ZJ-SX", "330602"),
    ("ZJ-SX-YC-LS", "灵芝街道党工委", "township", "ZJ-SX-YC", "330602001"),
    ("ZJ-SX-YC-LS-01", "灵芝街道新业社区党支部", "branch", "ZJ-SX-YC-LS", "330602001001"),
    ("QH", "青海省委", "province", "CN", "63"),
    ("QH-XN", "西宁市委", "city", "QH", "6301"),
    ("QH-XN-HY", "湟源县委组织部", "county", "QH-XN", "630123"),
    ("QH-XN-HY-CG", "城关镇党委", "township", "QH-XN-HY", "630123001"),
    ("QH-XN-HY-CG-01", "城关镇西门村党支部", "branch", "QH-XN-HY-CG", "630123001001"),
    ("QH-XN-DT", "大通县委组织部", "county", "QH-XN", "630121"),
    ("QH-XN-DT-QJ", "桥头镇党委", "township", "QH-XN-DT", "630121001"),
    ("QH-XN-DT-QJ-01", "桥头镇新城村党支部", "branch", "QH-XN-DT-QJ", "630121001001"),
    ("BJ", "北京市委", "province", "CN", "11"),
    ("BJ-CY", "朝阳区委组织部", "county", "BJ", "110105"),
    ("BJ-CY-WJ", "望京街道工委", "township", "BJ-CY", "110105001"),
    ("BJ-CY-WJ-01", "望京街道流动党员服务站党支部", "branch", "BJ-CY-WJ", "110105001001"),
    ("SH", "上海市委", "province", "CN", "31"),
    ("SH-PD", "浦东新区区委组织部", "county", "SH", "310115"),
    ("SH-PD-ZJ", "张江镇党委", "township", "SH-PD", "310115001"),
    ("SH-PD-ZJ-01", "张江镇流动党员党支部", "branch", "SH-PD-ZJ", "310115001001"),
]


def seed_orgs(database: object) -> int:
    """Create the demo org tree the first time; returns how many orgs were created."""
    from services.registration import service
    from services.registration.models import Org

    with database.reader() as session:  # type: ignore[attr-defined]
        if session.scalar(select(Org.code).where(Org.code == ORGS[0][0])) is not None:
            return 0
    for code, name, level, parent, region in ORGS:
        service.create_org(
            database,
            SEED_ADMIN,
            {"code": code, "name": name, "level": level, "parent_code": parent, "region": region},
        )
    return len(ORGS)


def seed_all(force: bool = False) -> None:
    from services.registration.app import open_database

    database = open_database(Settings.from_env("registration"))
    created = seed_orgs(database)
    print(f"[nuanliu] seeded {created} orgs" if created else "[nuanliu] demo orgs already present")
    database.dispose()
