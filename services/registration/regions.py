"""Names of administrative region codes (GB/T 2260) for the spreadsheets people read.

The project keeps no region table: a region is a code on an org, a station or an outflow. This
small table names every province and the prefectures and counties the seed data and the demo
stations use; any other code is named by its longest known prefix (at least its province), so
a name is always right if not always complete. Presentation only: no rule depends on it.
"""

from __future__ import annotations

PROVINCES = {
    "11": "北京市", "12": "天津市", "13": "河北省", "14": "山西省", "15": "内蒙古自治区",
    "21": "辽宁省", "22": "吉林省", "23": "黑龙江省", "31": "上海市", "32": "江苏省",
    "33": "浙江省", "34": "安徽省", "35": "福建省", "36": "江西省", "37": "山东省",
    "41": "河南省", "42": "湖北省", "43": "湖南省", "44": "广东省", "45": "广西壮族自治区",
    "46": "海南省", "50": "重庆市", "51": "四川省", "52": "贵州省", "53": "云南省",
    "54": "西藏自治区", "61": "陕西省", "62": "甘肃省", "63": "青海省", "64": "宁夏回族自治区",
    "65": "新疆维吾尔自治区", "71": "台湾省", "81": "香港特别行政区", "82": "澳门特别行政区",
}  # fmt: skip

# Prefectures (4 digits) and counties (6 digits) of the seed data (deploy/seed.py).
PREFECTURES = {
    "3306": "绍兴市", "3503": "莆田市", "4207": "鄂州市", "4228": "恩施土家族苗族自治州",
    "6301": "西宁市",
}  # fmt: skip
COUNTIES = {
    "110105": "朝阳区", "120114": "武清区", "310115": "浦东新区", "330602": "越城区",
    "350391": "北岸经济开发区", "420700": "", "420704": "鄂城区", "422802": "利川市",
    "630102": "城东区", "630103": "城中区", "630104": "城西区", "630121": "大通回族土族自治县",
    "630123": "湟源县",
}  # fmt: skip


def region_name(code: str | None) -> str:
    """浙江省绍兴市越城区 for 330602 (and for 330602001001, its county's name); the province alone
    for a code only its province is known of; "" for no code or an unknown province."""
    if not code:
        return ""
    province = PROVINCES.get(code[:2])
    if province is None:
        return ""
    # Municipalities (北京, 天津, 上海, 重庆) have no prefecture name between them and the county.
    return province + PREFECTURES.get(code[:4], "") + COUNTIES.get(code[:6], "")
