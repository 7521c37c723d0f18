"""Demo data from the project's briefs: Tianjin Wuqing, Putian Beian, Lichuan (with its outflow
branches in Shaoxing and Ezhou), Xining, and receiving branches in Beijing and Shanghai.

Orgs are seeded only the first time; members are added through the same use cases the API
uses, so every change carries its events and audit entries.
"""

from __future__ import annotations

import json
import random
from datetime import date, timedelta
from pathlib import Path

from sqlalchemy import select

from services.registration.settings import RegistrationSettings
from shared.auth import Principal

SEED_ADMIN = Principal(sub="seed", role="admin", org="CN", name="seed")

# (code, name, level, parent, region)
ORGS: list[tuple[str, str, str, str, str | None]] = [
    ("TJ", "天津市委", "province", "CN", "12"),
    ("TJ-WQ", "武清区委组织部", "county", "TJ", "120114"),
    ("TJ-WQ-YC", "杨村街道党工委", "township", "TJ-WQ", "120114001"),
    ("TJ-WQ-YC-01", "杨村街道第一社区党支部", "branch", "TJ-WQ-YC", "120114001001"),
    ("TJ-WQ-XZ", "下朱庄街道党工委", "township", "TJ-WQ", "120114002"),
    ("TJ-WQ-XZ-01", "下朱庄街道流动党员党支部", "branch", "TJ-WQ-XZ", "120114002001"),
    ("TJ-WQ-DP", "东蒲洼街道党工委", "township", "TJ-WQ", "120114003"),
    ("TJ-WQ-DP-01", "东蒲洼街道泉州路社区党支部", "branch", "TJ-WQ-DP", "120114003001"),
    ("TJ-WQ-HXW", "河西务镇党委", "township", "TJ-WQ", "120114104"),
    ("TJ-WQ-HXW-DJ", "河西务镇丁家瞿阝村党支部", "branch", "TJ-WQ-HXW", "120114104201"),
    ("TJ-WQ-DL", "大良镇党委", "township", "TJ-WQ", "120114110"),
    ("TJ-WQ-DL-HC", "大良镇韩村党支部", "branch", "TJ-WQ-DL", "120114110201"),
    ("TJ-WQ-CHK", "崔黄口镇党委", "township", "TJ-WQ", "120114101"),
    ("TJ-WQ-CHK-01", "崔黄口镇流动党员党支部", "branch", "TJ-WQ-CHK", "120114101001"),
    ("FJ", "福建省委", "province", "CN", "35"),
    ("FJ-PT", "莆田市委", "city", "FJ", "3503"),
    ("FJ-PT-BA", "北岸经济开发区党工委组织部", "county", "FJ-PT", "350391"),
    ("FJ-PT-BA-SF", "山亭镇党委", "township", "FJ-PT-BA", "350391001"),
    ("FJ-PT-BA-SF-01", "山亭镇港里村党支部", "branch", "FJ-PT-BA-SF", "350391001001"),
    ("FJ-PT-BA-DZ", "东埔镇党委", "township", "FJ-PT-BA", "350391002"),
    ("FJ-PT-BA-DZ-01", "东埔镇吉城村党支部", "branch", "FJ-PT-BA-DZ", "350391002001"),
    ("FJ-PT-BA-ZM", "忠门镇党委", "township", "FJ-PT-BA", "350391003"),
    ("FJ-PT-BA-ZM-01", "忠门镇流动党员党支部", "branch", "FJ-PT-BA-ZM", "350391003001"),
    ("HB", "湖北省委", "province", "CN", "42"),
    ("HB-ES", "恩施州委", "city", "HB", "4228"),
    ("HB-LC", "利川市委组织部", "county", "HB-ES", "422802"),
    ("HB-LC-DT", "都亭街道党工委", "township", "HB-LC", "422802001"),
    ("HB-LC-DT-01", "都亭街道滨江社区党支部", "branch", "HB-LC-DT", "422802001001"),
    ("HB-LC-MD", "谋道镇党委", "township", "HB-LC", "422802101"),
    ("HB-LC-MD-01", "谋道镇苏拉口村党支部", "branch", "HB-LC-MD", "422802101001"),
    ("HB-LC-MD-SX", "谋道镇驻绍兴流动党员党支部", "branch", "HB-LC-MD", "330602"),
    ("HB-LC-MD-EZ", "谋道镇驻鄂州流动党员党支部", "branch", "HB-LC-MD", "420700"),
    ("HB-LC-BYB", "柏杨坝镇党委", "township", "HB-LC", "422802102"),
    ("HB-LC-BYB-01", "柏杨坝镇水井村党支部", "branch", "HB-LC-BYB", "422802102001"),
    ("HB-LC-BYB-SX", "柏杨坝镇驻绍兴流动党员党支部", "branch", "HB-LC-BYB", "330602"),
    ("HB-EZ", "鄂州市委", "city", "HB", "4207"),
    ("HB-EZ-EC", "鄂城区委组织部", "county", "HB-EZ", "420704"),
    ("HB-EZ-EC-GM", "古楼街道党工委", "township", "HB-EZ-EC", "420704001"),
    ("HB-EZ-EC-GM-01", "古楼街道流动党员服务站党支部", "branch", "HB-EZ-EC-GM", "420704001001"),
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
    ("QH-XN-HY-DX", "东峡镇党委", "township", "QH-XN-HY", "630123102"),
    ("QH-XN-HY-DX-HTG", "东峡镇灰条沟村党支部", "branch", "QH-XN-HY-DX", "630123102201"),
    ("QH-XN-DT", "大通县委组织部", "county", "QH-XN", "630121"),
    ("QH-XN-DT-QJ", "桥头镇党委", "township", "QH-XN-DT", "630121001"),
    ("QH-XN-DT-QJ-01", "桥头镇新城村党支部", "branch", "QH-XN-DT-QJ", "630121001001"),
    ("QH-XN-CZ", "城中区委组织部", "county", "QH-XN", "630103"),
    ("QH-XN-CZ-RM", "人民街街道党工委", "township", "QH-XN-CZ", "630103001"),
    ("QH-XN-CZ-RM-01", "人民街街道流动党员党支部", "branch", "QH-XN-CZ-RM", "630103001001"),
    ("QH-XN-CD", "城东区委组织部", "county", "QH-XN", "630102"),
    ("QH-XN-CD-DG", "东关大街街道党工委", "township", "QH-XN-CD", "630102001"),
    ("QH-XN-CD-DG-01", "东关大街街道清真巷社区党支部", "branch", "QH-XN-CD-DG", "630102001001"),
    ("QH-XN-CX", "城西区委组织部", "county", "QH-XN", "630104"),
    ("QH-XN-CX-XG", "西关大街街道党工委", "township", "QH-XN-CX", "630104001"),
    ("QH-XN-CX-XG-01", "西关大街街道流动党员驿站党支部", "branch", "QH-XN-CX-XG", "630104001001"),
    ("QH-XN-CX-BS", "北山市场流动党支部", "branch", "QH-XN-CX-XG", "630104001002"),
    ("BJ", "北京市委", "province", "CN", "11"),
    ("BJ-CY", "朝阳区委组织部", "county", "BJ", "110105"),
    ("BJ-CY-WJ", "望京街道工委", "township", "BJ-CY", "110105001"),
    ("BJ-CY-WJ-01", "望京街道流动党员服务站党支部", "branch", "BJ-CY-WJ", "110105001001"),
    ("SH", "上海市委", "province", "CN", "31"),
    ("SH-PD", "浦东新区区委组织部", "county", "SH", "310115"),
    ("SH-PD-ZJ", "张江镇党委", "township", "SH-PD", "310115001"),
    ("SH-PD-ZJ-01", "张江镇流动党员党支部", "branch", "SH-PD-ZJ", "310115001001"),
    ("SH-PD-ZJ-02", "张江科学城流动党员服务站党支部", "branch", "SH-PD-ZJ", "310115001002"),
]


SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华建国红梅志强海燕文辉玉兰春梅晓东永红"
OCCUPATIONS = [
    ("建筑工人", "中建某工程局项目部"),
    ("快递员", "顺达速运站点"),
    ("外卖骑手", None),
    ("纺织工", "绍兴柯桥某纺织公司"),
    ("电子装配工", "鄂州某光电企业"),
    ("个体经营", None),
    ("软件工程师", "张江某科技公司"),
    ("货车司机", "京津物流公司"),
]
# Where members of each home county go, and which branches they report to on arrival.
DESTINATIONS = {
    "HB-LC": [
        ("330602", "浙江省绍兴市越城区灵芝街道", "ZJ-SX-YC-LS-01"),
        ("420704", "湖北省鄂州市鄂城区古楼街道", "HB-EZ-EC-GM-01"),
    ],
    "QH-XN-HY": [
        ("350391", "福建省莆田市北岸经济开发区忠门镇", "FJ-PT-BA-ZM-01"),
        ("630103", "青海省西宁市城中区人民街", "QH-XN-CZ-RM-01"),
    ],
    "QH-XN-DT": [("630104", "青海省西宁市城西区西关大街", "QH-XN-CX-XG-01")],
    "FJ-PT-BA": [("310115", "上海市浦东新区张江镇", "SH-PD-ZJ-01")],
    "TJ-WQ": [("110105", "北京市朝阳区望京街道", "BJ-CY-WJ-01")],
}
MEMBERS_PER_BRANCH = 12


# Stations members scan into: (code, name, kind, host org, region, address, lat, lon, open hours).
STATIONS = [
    (
        "ST-WQ-YC-HOME",
        "杨村街道流动党员之家",
        "home",
        "TJ-WQ-YC",
        "120114001",
        "天津市武清区杨村街道泉州北路党群服务中心一楼",
        39.3833,
        117.0450,
        "周一至周五 9:00-17:00",
    ),
    (
        "ST-WQ-XZ-HOME",
        "下朱庄街道流动党员之家",
        "home",
        "TJ-WQ-XZ",
        "120114002",
        "天津市武清区下朱庄街道富民道党群服务中心",
        39.3990,
        117.0720,
        "周一至周六 9:00-18:00",
    ),
    (
        "ST-WQ-CHK-01",
        "崔黄口镇电商产业园流动党员之家",
        "home",
        "TJ-WQ-CHK-01",
        "120114101001",
        "天津市武清区崔黄口镇电商产业园综合楼二楼",
        39.5410,
        117.1380,
        "每天 8:30-20:00",
    ),
    (
        "ST-BA-SF-YZ",
        "山亭镇港里村流动党员驿站",
        "station",
        "FJ-PT-BA-SF-01",
        "350391001001",
        "福建省莆田市北岸经济开发区山亭镇港里村村委会",
        25.1920,
        119.1630,
        "每天 8:00-21:00",
    ),
    (
        "ST-BA-ZM-YZ",
        "忠门镇流动党员驿站",
        "station",
        "FJ-PT-BA-ZM",
        "350391003",
        "福建省莆田市北岸经济开发区忠门镇政府便民服务中心",
        25.2480,
        119.2010,
        "周一至周日 8:00-18:00",
    ),
    (
        "ST-BA-DZ-YZ",
        "东埔镇吉城村流动党员驿站",
        "station",
        "FJ-PT-BA-DZ-01",
        "350391002001",
        "福建省莆田市北岸经济开发区东埔镇吉城村文化礼堂",
        25.2900,
        119.1200,
        None,
    ),
    (
        "ST-LC-DT-XS",
        "都亭街道新市民之家学习点",
        "home",
        "HB-LC-DT-01",
        "422802001001",
        "湖北省利川市都亭街道滨江社区新市民之家",
        30.2910,
        108.9370,
        "周二至周日 9:00-17:30",
    ),
    (
        "ST-LC-MD-XS",
        "谋道镇新市民之家学习点",
        "home",
        "HB-LC-MD",
        "422802101",
        "湖北省利川市谋道镇集镇新市民之家",
        30.3560,
        108.5740,
        "周一至周五 8:30-17:00",
    ),
    (
        "ST-XN-CX-FW",
        "西关大街流动党员服务站",
        "service_point",
        "QH-XN-CX-XG-01",
        "630104001001",
        "青海省西宁市城西区西关大街街道党群服务中心",
        36.6190,
        101.7620,
        "周一至周五 8:30-18:00",
    ),
]


def seed_orgs(database: object) -> int:
    """Create the demo org tree, each org only if it is not there yet; returns how many were created."""
    from services.registration import commands
    from services.registration.models import Org
    from services.registration.unit_of_work import RegistrationUnitOfWork

    with database.reader() as session:  # type: ignore[attr-defined]
        present = set(session.scalars(select(Org.code).where(Org.code.in_([org[0] for org in ORGS]))))
    created = 0
    for code, name, level, parent, region in ORGS:
        if code in present:
            continue
        commands.create_org(
            RegistrationUnitOfWork(database),  # type: ignore[arg-type]
            SEED_ADMIN,
            commands.CreateOrg(code=code, name=name, level=level, parent_code=parent, region=region),
        )
        created += 1
    return created


def seed_stations(database: object) -> int:
    """Create the demo stations not there yet (each with its own key); returns how many."""
    from services.registration.commands import stations as station_commands
    from services.registration.models import Station
    from services.registration.unit_of_work import RegistrationUnitOfWork

    with database.reader() as session:  # type: ignore[attr-defined]
        present = set(session.scalars(select(Station.code)))
    created = 0
    for code, name, kind, host, region, address, lat, lon, hours in STATIONS:
        if code in present:
            continue
        command = station_commands.CreateStation(
            code=code,
            name=name,
            kind=kind,
            host_org_code=host,
            region=region,
            address=address,
            latitude=lat,
            longitude=lon,
            open_hours=hours,
        )
        station_commands.create_station(RegistrationUnitOfWork(database), SEED_ADMIN, command)  # type: ignore[arg-type]
        created += 1
    return created


def _id_number(rng: random.Random, region: str, born: date) -> str:
    from services.registration.domain import id_check_digit

    first17 = f"{region[:6].ljust(6, '0')}{born:%Y%m%d}{rng.randrange(1000):03d}"
    return first17 + id_check_digit(first17)


def seed_members(
    database: object, rng: random.Random | None = None, force: bool = False, id_hash_key: str | None = None
) -> int:
    """A few hundred members through the use cases, some mobile with outflows, inflows and
    check-ins; only when there are no members yet (or when forced). Returns how many were created."""
    from services.registration import commands
    from services.registration.models import Member
    from services.registration.unit_of_work import RegistrationUnitOfWork

    with database.reader() as session:  # type: ignore[attr-defined]
        if not force and session.scalar(select(Member.id).limit(1)) is not None:
            return 0
    # A fixed seed gives the same demo every time; a forced re-seed needs fresh ID numbers.
    rng = rng or (random.Random() if force else random.Random(2026))
    today = date.today()
    counties = {code: code for code, _, level, _, _ in ORGS if level == "county"}
    created = 0
    used_ids: set[str] = set()
    # The configured key of the ID-number search, so seeded members are found by number.
    key = id_hash_key or RegistrationSettings.from_env().id_hash_key
    for code, _name, level, _parent, region in ORGS:
        if level != "branch" or region is None:
            continue
        home_county = next((c for c in counties if code.startswith(c + "-")), None)
        for _ in range(MEMBERS_PER_BRANCH):
            born = date(rng.randint(1955, 2002), rng.randint(1, 12), rng.randint(1, 28))
            number = _id_number(rng, region if len(region) >= 6 else region.ljust(6, "0"), born)
            if number in used_ids:
                continue
            used_ids.add(number)
            joined = born + timedelta(days=365 * 18 + rng.randint(30, 365 * 15))
            joined = min(joined, today - timedelta(days=30))
            dues = today - timedelta(days=rng.choice([0, 0, 0, 31, 62, 95]))
            uow = RegistrationUnitOfWork(database, key)  # type: ignore[arg-type]
            member = commands.create_member(
                uow,
                SEED_ADMIN,
                commands.CreateMember(
                    name=rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice([1, 2]))),
                    gender=rng.choice(["male", "female"]),
                    birth_date=born,
                    id_number=number,
                    phone=f"1{rng.choice('3456789')}{rng.randrange(10**9):09d}",
                    status="full" if rng.random() < 0.9 else "probationary",
                    branch_code=code,
                    joined_on=joined,
                    dues_paid_through=dues.strftime("%Y-%m"),
                ),
            )
            created += 1
            destinations = DESTINATIONS.get(home_county or "")
            if destinations and rng.random() < 0.35:
                region_code, address, inflow_branch = rng.choice(destinations)
                occupation, employer = rng.choice(OCCUPATIONS)
                departed = today - timedelta(days=rng.randint(20, 400))
                commands.register_outflow(
                    uow,
                    SEED_ADMIN,
                    commands.RegisterOutflow(
                        member_id=member.id,
                        destination_region=region_code,
                        destination_address=address,
                        occupation=occupation,
                        employer=employer,
                        departed_on=departed,
                        expected_return_on=departed + timedelta(days=rng.choice([180, 365, 730])),
                        reason=rng.choice(["务工", "经商", "随迁", "求学"]),
                        contact_phone=member.phone,
                    ),
                )
                if rng.random() < 0.6:
                    commands.register_inflow(
                        uow,
                        SEED_ADMIN,
                        commands.RegisterInflow(
                            member_id=member.id,
                            branch_code=inflow_branch,
                            arrived_on=min(today, departed + timedelta(days=rng.randint(1, 10))),
                            current_address=address,
                            occupation=occupation,
                            employer=employer,
                            contact_person=rng.choice(SURNAMES) + "书记",
                        ),
                    )
                    if rng.random() < 0.7:
                        commands.record_checkin(
                            uow,
                            SEED_ADMIN,
                            commands.RecordCheckin(
                                member_id=member.id, branch_code=inflow_branch, kind="grid_survey"
                            ),
                        )
    return created


DEMO_USERS = Path(__file__).resolve().parent / "idp" / "users.json"


def seed_staff(database: object) -> int:
    """The demo staff directory: the roles of deploy/idp/users.json (the dev provider's users)."""
    from services.registration.commands.staff import AssignStaff, assign_staff
    from services.registration.models import StaffAssignment
    from services.registration.unit_of_work import RegistrationUnitOfWork

    users = json.loads(DEMO_USERS.read_text(encoding="utf-8"))["users"]
    with database.reader() as session:  # type: ignore[attr-defined]
        present = {(row.org_code, row.subject, row.role) for row in session.scalars(select(StaffAssignment))}
    created = 0
    for user in users:
        for role in user["roles"]:
            if (role["org"], user["sub"], role["role"]) in present:
                continue
            command = AssignStaff(
                org_code=role["org"], subject=user["sub"], name=user["name"], role=role["role"]
            )
            assign_staff(RegistrationUnitOfWork(database), SEED_ADMIN, command)  # type: ignore[arg-type]
            created += 1
    return created


def seed_all(force: bool = False) -> None:
    from services.registration.app import open_database

    settings = RegistrationSettings.from_env()
    database = open_database(settings)
    created = seed_orgs(database)
    print(f"[nuanliu] seeded {created} orgs" if created else "[nuanliu] demo orgs already present")
    stations = seed_stations(database)
    print(f"[nuanliu] seeded {stations} stations" if stations else "[nuanliu] demo stations already present")
    staff = seed_staff(database)
    print(f"[nuanliu] seeded {staff} staff roles" if staff else "[nuanliu] demo staff already present")
    members = seed_members(database, force=force, id_hash_key=settings.id_hash_key)
    print(f"[nuanliu] seeded {members} members" if members else "[nuanliu] demo members already present")
    database.dispose()
