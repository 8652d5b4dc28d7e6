"""Seeded synthetic person records full of hard negatives (kin, namesakes, co-workers), in the bench layout.

Usage::

    python bench/synth_kin.py --rows 1000000 --seed 7 --out /tmp/kin_1m

writes ``OUT/records.csv`` (id, first_name, last_name, birth_date, address, town, zip, phone, email,
employer_id), ``OUT/truth.csv`` (id, entity_id) and ``OUT/meta.json`` (task "dedup", source_column null),
like ``shared/datasets/<name>/bench/``. ``generate_frame(rows, seed)`` returns the same records and truth
as DataFrames (empty cells as None), for small sizes in-process.

A robustness suite, independent of ``bench/synth.py`` (own vocabulary, own corruption model), that
attacks what a person matcher tends to assume:

* households: ~13% of entities live with 1-5 others sharing the last name (mostly; Polish wives
  as -ska), the address, town, zip and landline; among them twins (same last name, birth date and
  address; sometimes rhyming first names, Yoruba twins often taiwo and kehinde) and parents and
  children with the same first and last name 20-40 years apart (a "jr"/"sr" in one record only).
  Most of a household's records come from joint registrations that write all members alike
  (same letter case, formats, abbreviations and gaps), so members collide exactly;
* ``employer_id`` is a company code shared by up to ~2% of rows (Zipf company sizes), mostly
  constant per person (some change job), often empty;
* entity sizes from 1 to 1,000 records with a heavy tail (a few entities of several hundred
  records at 100k rows and more); every record is corrupted independently from the true values;
* every column but the names is 30-60% empty, with correlated gaps (records come from "sources"
  that keep different columns);
* corruption: OCR confusions, phonetic respellings, keyboard typos, truncation, initials,
  nicknames, first/last swaps, one half of a double surname, maiden names, birth dates in four
  formats with day/month swaps and years off by one, street-type abbreviations and units, moving
  house, phone formats, e-mails from the names that change over time, letter case per source.

Output depends only on ``--rows`` and ``--seed``. Values are made in chunks of ``CHUNK_ROWS`` (an
entity's records and its household stay in one chunk) and kept as Arrow tables, so 1M rows take
~10 s and well under 1 GB. All rows are shuffled together and numbered in file order, so neither
the ids (``p0000123``) nor the position in the file say anything of the entity.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

CHUNK_ROWS = 250_000
COLUMNS = ["id", "first_name", "last_name", "birth_date", "address", "town", "zip", "phone", "email", "employer_id"]
SPARSE = ["birth_date", "address", "town", "zip", "phone", "email", "employer_id"]
# Share of empty cells per column (an entity without a phone/e-mail/employer counts towards it).
EMPTY = {
    "first_name": 0.05,
    "last_name": 0.05,
    "birth_date": 0.37,
    "address": 0.42,
    "town": 0.36,
    "zip": 0.47,
    "phone": 0.50,
    "email": 0.54,
    "employer_id": 0.45,
}
# Record sources: weight, then relative chance of dropping each SPARSE column (mean 1 over sources).
SOURCES = {
    "full": (0.25, [0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3]),
    "contact": (0.25, [1.6, 1.5, 1.2, 1.6, 0.3, 0.3, 1.3]),
    "civil": (0.25, [0.3, 0.3, 0.3, 0.5, 1.5, 1.7, 1.5]),
    "work": (0.25, [1.4, 1.4, 1.0, 1.4, 0.9, 0.6, 0.2]),
}
CASES = [0.72, 0.16, 0.12]  # letter case of a record's names/address/town: title, upper, lower
HOUSEHOLD_SHARE = 0.135  # of entities
JOINT_REGISTRATION = 0.8  # share of a household member's records from a registration of the whole household
HOUSEHOLD_SIZES = ([2, 3, 4, 5, 6], [0.45, 0.22, 0.18, 0.10, 0.05])
REF_DAY = np.datetime64("2024-06-30")
MAX_ENTITY = 1000
DATE_FORMATS = [0.45, 0.20, 0.20, 0.15]  # 1984-03-07, 07/03/1984 (d/m), 3/7/1984 (m/d), 19840307
PHONE_FORMATS = [0.30, 0.30, 0.25, 0.15]  # +1 555 123 4567, (555) 123-4567, 5551234567, 555-123-4567

# ---------------------------------------------------------------------------------------------------------------
# Vocabulary: most frequent first within each list; "_" stands for a space inside a name.

CULTURES: dict[str, tuple[float, str, str, str]] = {
    "english": (
        0.34,
        "james john robert michael william david richard joseph thomas charles christopher daniel matthew "
        "anthony mark donald steven paul andrew joshua kenneth kevin brian george timothy ronald edward jason "
        "jeffrey ryan jacob gary nicholas eric jonathan stephen larry justin scott brandon benjamin samuel "
        "gregory alexander patrick frank raymond jack dennis liam noah oliver",
        "mary patricia jennifer linda elizabeth barbara susan jessica sarah karen lisa nancy betty margaret "
        "sandra ashley kimberly emily donna michelle carol amanda dorothy melissa deborah stephanie rebecca "
        "sharon laura cynthia kathleen amy angela shirley anna brenda pamela emma nicole helen samantha "
        "katherine christine debra rachel catherine carolyn janet ruth hannah abigail olivia ella",
        "smith johnson williams brown jones miller davis wilson anderson taylor thomas moore jackson martin "
        "lee thompson white harris clark lewis robinson walker young allen king wright scott hill green adams "
        "baker nelson carter mitchell roberts campbell phillips evans turner parker collins edwards stewart "
        "morris murphy cook rogers morgan cooper peterson bailey reed kelly howard cox ward richardson watson "
        "brooks wood bennett gray hughes price sanders myers long ross foster sullivan russell o'brien "
        "mcdonald macdonald o'connor fitzgerald",
    ),
    "hispanic": (
        0.18,
        "jose juan luis carlos jesus miguel antonio francisco jorge pedro manuel alejandro ricardo fernando "
        "javier rafael roberto eduardo sergio raul diego andres mario hector alberto enrique guillermo ramon "
        "oscar arturo juan_carlos jose_luis",
        "maria guadalupe rosa ana carmen juana margarita veronica elena claudia isabel gabriela alejandra "
        "adriana sofia lucia teresa silvia marisol yolanda beatriz monica leticia maria_jose ana_maria dolores "
        "esperanza pilar daniela",
        "garcia rodriguez martinez hernandez lopez gonzalez perez sanchez ramirez torres flores rivera gomez "
        "diaz reyes morales cruz ortiz gutierrez chavez ramos ruiz alvarez mendoza vasquez castillo jimenez "
        "moreno romero herrera medina aguilar vargas guerrero de_la_cruz del_rio de_leon",
    ),
    "german": (
        0.09,
        "thomas andreas stefan christian markus frank peter klaus wolfgang jurgen uwe dieter hans matthias "
        "jan tobias sebastian florian lukas felix maximilian johannes karl-heinz hans-peter joachim bernd "
        "ralf jorg dirk jonas",
        "ursula monika petra sabine andrea susanne birgit karin gabriele renate heike katrin stefanie julia "
        "lena lea marie sophie johanna anja ingrid helga brigitte christa elke silke ute greta frieda",
        "muller schmidt schneider fischer weber meyer wagner becker schulz hoffmann schafer koch bauer "
        "richter klein wolf schroder neumann schwarz zimmermann braun kruger hofmann hartmann lange schmitt "
        "werner schmitz krause meier lehmann schmid schulze maier kohler herrmann konig walter mayer huber",
    ),
    "polish": (
        0.08,
        "piotr krzysztof andrzej tomasz pawel michal marcin jakub adam lukasz marek grzegorz mateusz "
        "wojciech mariusz dariusz zbigniew jerzy maciej rafal kamil jacek aleksander kacper szymon bartosz "
        "stanislaw wladyslaw",
        "katarzyna malgorzata agnieszka ewa krystyna elzbieta magdalena joanna zofia aleksandra teresa danuta "
        "natalia karolina marta beata dorota halina jadwiga jolanta iwona grazyna justyna paulina wiktoria "
        "zuzanna kasia basia",
        "nowak kowalski wisniewski wojcik kowalczyk kaminski lewandowski zielinski szymanski wozniak "
        "dabrowski kozlowski jankowski mazur kwiatkowski krawczyk piotrowski grabowski nowakowski pawlowski "
        "michalski nowicki adamczyk dudek zajac wieczorek jablonski krol majewski olszewski jaworski wrobel "
        "malinowski pawlak witkowski walczak sadowski",
    ),
    "vietnamese": (
        0.07,
        "minh tuan hung duc quang nam long thanh hieu khanh dung van hai son bao an phuc vinh huy trung "
        "quoc tien dat cuong thang",
        "anh huong linh thao lan trang hoa mai phuong thu ngoc vy tam hanh nhung yen diep oanh uyen xuan "
        "kim loan hien trinh my",
        "nguyen tran le pham hoang huynh phan vu vo dang bui do ho ngo duong ly truong dinh lam luong mai "
        "trinh ta cao",
    ),
    "indian": (
        0.10,
        "rahul amit vijay sanjay rajesh suresh anil arjun ravi deepak manoj vikram arun kiran ajay sunil "
        "ashok pradeep rohan nikhil aditya karthik ganesh harish prakash venkatesh srinivas",
        "priya anjali sunita pooja neha kavita deepa lakshmi anita meena rekha divya swati shreya asha geeta "
        "nisha radha sapna usha kavya aishwarya padma shanti jyoti piya",
        "patel sharma singh kumar gupta shah reddy rao iyer nair mehta joshi desai chopra kapoor malhotra "
        "agarwal verma mishra pillai menon bhat chaudhary jain das banerjee mukherjee chatterjee ghosh sinha "
        "naidu krishnan subramanian venkatesan pandey",
    ),
    "nigerian": (
        0.06,
        "chinedu emeka oluwaseun adebayo chukwuemeka ifeanyi tunde babatunde olumide segun obinna uche "
        "ikenna kayode femi yusuf ibrahim musa abdullahi nnamdi chidi kelechi tochukwu olufemi gbenga",
        "ngozi chioma adaeze funmilayo folake aisha amaka nneka blessing chiamaka yetunde bukola omolara "
        "temitope ifeoma kemi titilayo zainab fatima halima oluwakemi abimbola ebere precious funke",
        "okafor okonkwo adeyemi okeke ogunleye nwosu eze bello abubakar adebayo obi nwachukwu okoro olawale "
        "ibrahim mohammed uzor chukwu ogbonna onyeka afolabi ojo adeleke oyelaran danjuma ekwueme nnadi "
        "akinola balogun ogunbiyi okoye igwe ezeh",
    ),
    "chinese": (
        0.08,
        "wei jun lei yang hao jie tao ming qiang bo peng yong jian chao gang feng lin bin hui xin yi zhiwei "
        "haoran zihan yuxuan",
        "fang jing li na min yan juan xiuying ying hong mei ling xia hua lan qing yue xiaoyan xiaomei yuting "
        "jiayi shufen huimin lili ting",
        "wang li zhang liu chen yang huang zhao wu zhou xu sun ma zhu hu guo he gao lin luo zheng liang xie "
        "song tang han feng deng cao peng zeng xiao tian dong pan",
    ),
}
# Nicknames and short forms (first is the usual one).
NICKNAMES = {
    "william": "bill will billy liam", "robert": "bob rob bobby bert", "richard": "rick dick rich",
    "margaret": "peggy maggie meg greta", "elizabeth": "liz beth betty lizzie eliza", "james": "jim jimmy jamie",
    "john": "jack johnny", "michael": "mike mikey mick", "thomas": "tom tommy", "charles": "charlie chuck",
    "christopher": "chris kit", "daniel": "dan danny", "matthew": "matt", "anthony": "tony", "joseph": "joe joey",
    "edward": "ed eddie ted ned", "steven": "steve", "stephen": "steve", "andrew": "andy drew",
    "kenneth": "ken kenny", "timothy": "tim", "ronald": "ron ronnie", "jeffrey": "jeff", "nicholas": "nick",
    "jonathan": "jon", "benjamin": "ben benny", "samuel": "sam sammy", "gregory": "greg",
    "alexander": "alex sasha xander", "patrick": "pat paddy", "raymond": "ray", "dennis": "denny",
    "lawrence": "larry", "jennifer": "jen jenny", "patricia": "pat patty trish", "susan": "sue susie",
    "jessica": "jess", "katherine": "kate kathy katie", "catherine": "cathy cat", "kathleen": "kathy kate",
    "deborah": "deb debbie", "debra": "deb debbie", "rebecca": "becky becca", "pamela": "pam",
    "samantha": "sam sammy", "christine": "chris tina", "dorothy": "dot dottie", "kimberly": "kim",
    "amanda": "mandy", "cynthia": "cindy", "abigail": "abby", "barbara": "barb babs", "sandra": "sandy",
    "stephanie": "steph", "melissa": "mel missy", "olivia": "liv", "francisco": "paco pancho", "jose": "pepe",
    "guadalupe": "lupe", "alejandro": "alex", "roberto": "beto", "eduardo": "lalo", "enrique": "kike",
    "dolores": "lola", "ricardo": "ricky", "alejandra": "ale", "johannes": "hans jo", "wolfgang": "wolf",
    "maximilian": "max", "sebastian": "basti", "stefanie": "steffi", "gabriele": "gabi", "aleksander": "olek",
    "katarzyna": "kasia", "malgorzata": "gosia", "aleksandra": "ola", "stanislaw": "stas", "zofia": "zosia",
    "olufemi": "femi", "babatunde": "tunde", "oluwaseun": "seun", "chukwuemeka": "emeka", "oluwakemi": "kemi",
    "funmilayo": "funmi", "abdullahi": "abdul", "venkatesh": "venky", "lakshmi": "lucky", "aishwarya": "ash",
}
# Rhyming or look-alike first names given to some twins.
TWIN_NAMES = [
    ("anna", "hanna"), ("mary", "marie"), ("emma", "ella"), ("lena", "lea"), ("sofia", "sonia"),
    ("elena", "helena"), ("daniel", "daniela"), ("kevin", "devin"), ("brian", "ryan"), ("michael", "michelle"),
    ("jakub", "jan"), ("linh", "lan"), ("jing", "ying"), ("mei", "wei"), ("priya", "piya"), ("kasia", "basia"),
    ("taiwo", "kehinde"), ("lucia", "lucas"), ("olivia", "oliver"), ("jonas", "lukas"), ("minh", "anh"),
]
TOWNS = (
    "springfield riverside fairview franklin greenville bristol clinton madison georgetown salem marion "
    "oxford ashland burlington manchester milton newport jackson dover arlington chester kingston lexington "
    "auburn dayton lancaster hudson clayton winchester cambridge richmond plymouth windsor hamilton columbia "
    "portland jamestown centerville mount_vernon fort_worth san_jose san_diego san_antonio santa_fe "
    "santa_rosa santa_clara los_alamos las_cruces el_paso new_brunswick new_haven new_london new_albany "
    "new_castle newark st_albans st_louis st_paul st_augustine saint_cloud st_helens port_arthur port_jervis "
    "grand_rapids grand_junction cedar_rapids palo_alto baton_rouge des_moines eau_claire la_crosse la_jolla "
    "long_beach east_orange west_orange north_bergen south_bend west_chester east_hampton bay_city "
    "sioux_falls twin_falls great_falls glens_falls little_rock rock_hill cherry_hill pine_bluff oak_park "
    "oak_ridge elk_grove park_city salt_lake_city lake_charles lake_forest palm_springs coral_gables "
    "silver_spring college_station round_rock sugar_land cape_coral fort_myers fort_collins fort_wayne "
    "mount_pleasant mount_laurel royal_oak milton_keynes stoke_on_trent bury_st_edmunds weston_super_mare "
    "newcastle_upon_tyne shelby ames boise reno tulsa akron erie flint macon mobile provo yonkers camden "
    "trenton paterson elgin joliet peoria naperville aurora boulder pueblo tacoma spokane everett yakima "
    "eugene medford fresno modesto stockton oakland berkeley pasadena glendale torrance irvine anaheim "
    "pomona escondido chula_vista oceanside carlsbad redding chico napa hayward fremont sunnyvale "
    "cupertino los_gatos santa_cruz monterey salinas bakersfield visalia"
)
STREETS = (
    "main oak maple cedar pine elm washington lake hill park church high station mill school king queen "
    "victoria market bridge spring river forest meadow highland sunset willow walnut chestnut cherry birch "
    "ash poplar jefferson lincoln adams monroe wilson grant center union prospect pleasant ridge valley "
    "broad water front north south first second third fourth fifth sixth seventh eighth ninth tenth college "
    "academy orchard garden green grove heather holly ivy laurel magnolia rose sycamore spruce hickory "
    "dogwood aspen mulberry harbor ocean shore beach canal dock martin_luther_king el_camino old_mill "
    "new_market saint_james la_salle van_buren cedar_hill pine_ridge lake_view fox_run deer_park mill_pond "
    "church_hill kings_bridge"
)
ORDINALS = {"first": "1st", "second": "2nd", "third": "3rd", "fourth": "4th", "fifth": "5th", "sixth": "6th",
            "seventh": "7th", "eighth": "8th", "ninth": "9th", "tenth": "10th"}
# Street types: full form, abbreviations, weight.
STREET_TYPES = [
    ("street", "st str", 30), ("avenue", "ave av", 18), ("road", "rd", 16), ("lane", "ln", 8), ("drive", "dr", 9),
    ("court", "ct", 4), ("place", "pl", 3), ("boulevard", "blvd", 2), ("way", "wy", 3), ("terrace", "ter tce", 1),
    ("crescent", "cres", 1), ("close", "cl", 1), ("circle", "cir", 2), ("parkway", "pkwy", 1), ("highway", "hwy", 1),
]
UNIT_STYLES = ["apt ", "unit ", "#", "flat ", "apartment "]
TOWN_WORDS = {"st": "saint", "saint": "st", "mount": "mt", "fort": "ft", "north": "n", "south": "s", "east": "e",
              "west": "w", "port": "pt", "upon": "on", "lake": "lk", "santa": "sta"}
DOMAINS = ("gmail.com yahoo.com hotmail.com outlook.com aol.com icloud.com comcast.net msn.com live.com "
           "proton.me att.net verizon.net mail.com")
CULTURE_DOMAINS = {"german": "web.de gmx.de t-online.de", "polish": "wp.pl onet.pl o2.pl",
                   "indian": "rediffmail.com yahoo.co.in", "chinese": "qq.com 163.com 126.com",
                   "hispanic": "hotmail.es prodigy.net.mx", "nigerian": "yahoo.co.uk", "vietnamese": "yahoo.com.vn"}
KEYBOARD = ["qwertyuiop", "asdfghjkl", "zxcvbnm"]
OCR = [("rn", "m"), ("m", "rn"), ("cl", "d"), ("d", "cl"), ("o", "0"), ("l", "1"), ("i", "l"), ("l", "i"),
       ("vv", "w"), ("w", "vv"), ("li", "h"), ("h", "li"), ("e", "c"), ("c", "e"), ("n", "ri"), ("u", "ii"),
       ("0", "o"), ("1", "l"), ("5", "s"), ("8", "b")]
PHONETIC = [("ph", "f"), ("f", "ph"), ("ie", "y"), ("y", "ie"), ("ck", "k"), ("c", "k"), ("k", "c"), ("z", "s"),
            ("s", "z"), ("th", "t"), ("ei", "ie"), ("ie", "ei"), ("ou", "u"), ("ai", "ay"), ("ay", "ai"),
            ("v", "w"), ("w", "v"), ("sch", "sh"), ("sh", "sch"), ("j", "y"), ("x", "ks"), ("ks", "x"),
            ("kh", "k"), ("ee", "i"), ("oo", "u"), ("dh", "d"), ("gh", "g"), ("qu", "kw"), ("tz", "z"),
            ("ll", "l"), ("nn", "n"), ("ss", "s"), ("tt", "t"), ("rr", "r"), ("mm", "m"), ("ff", "f"),
            ("pp", "p"), ("l", "ll"), ("n", "nn"), ("t", "tt"), ("r", "rr"), ("i", "y"), ("y", "i")]


def zipf(n: int, s: float = 1.0, q: float = 1.0) -> np.ndarray:
    """Zipf-Mandelbrot probabilities of ranks 0..n-1."""
    w = 1.0 / (np.arange(n) + q) ** s
    return w / w.sum()


def words(text: str) -> list[str]:
    return [w.replace("_", " ") for w in text.split()]


def strings(values: Iterable) -> np.ndarray:
    """A 1-d object array of the values (numpy would make a fixed-width unicode array)."""
    values = list(values)
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


@dataclass
class Vocab:
    """Value arrays and weights shared by all chunks (fixed, whatever the seed)."""

    cultures: list[str] = field(default_factory=lambda: list(CULTURES))
    culture_p: np.ndarray = field(init=False)
    given: list[list[tuple[np.ndarray, np.ndarray]]] = field(init=False)  # [culture][gender] -> names, p
    surname: list[tuple[np.ndarray, np.ndarray]] = field(init=False)
    town: np.ndarray = field(init=False)
    town_p: np.ndarray = field(init=False)
    town_area: np.ndarray = field(init=False)  # phone area code
    town_zip: np.ndarray = field(init=False)  # first zip of the town
    town_nzip: np.ndarray = field(init=False)
    street: np.ndarray = field(init=False)
    street_p: np.ndarray = field(init=False)
    stype_full: np.ndarray = field(init=False)
    stype_abbr: list[list[str]] = field(init=False)
    stype_p: np.ndarray = field(init=False)
    domain: np.ndarray = field(init=False)
    domain_p: np.ndarray = field(init=False)
    nick: dict[str, list[str]] = field(init=False)
    twin_names: dict[str, list[str]] = field(init=False)
    near: dict[str, str] = field(init=False)

    def __post_init__(self) -> None:
        fixed = np.random.default_rng(20240607)
        self.culture_p = np.array([CULTURES[c][0] for c in self.cultures])
        self.culture_p /= self.culture_p.sum()
        self.given, self.surname = [], []
        for c in self.cultures:
            _, male, female, last = CULTURES[c]
            self.given.append([(strings(words(g)), zipf(len(words(g)), 0.95, 2.0)) for g in (male, female)])
            self.surname.append((strings(words(last)), zipf(len(words(last)), 0.9, 3.0)))
        towns = words(TOWNS)
        fixed.shuffle(towns)  # multi-word towns anywhere in the frequency ranking
        self.town = strings(towns)
        self.town_p = zipf(len(towns), 1.05, 3.0)
        self.town_area = fixed.choice(np.arange(201, 990), size=len(towns), replace=False)
        self.town_zip = fixed.choice(np.arange(10, 999), size=len(towns), replace=False) * 100
        self.town_nzip = 1 + np.floor(20 * np.sqrt(self.town_p / self.town_p[0])).astype(np.int64)
        streets = words(STREETS)
        fixed.shuffle(streets)
        self.street = strings(streets)
        self.street_p = zipf(len(streets), 0.8, 2.0)
        self.stype_full = strings([t[0] for t in STREET_TYPES])
        self.stype_abbr = [t[1].split() for t in STREET_TYPES]
        self.stype_p = np.array([t[2] for t in STREET_TYPES], float) / sum(t[2] for t in STREET_TYPES)
        self.domain = strings(DOMAINS.split())
        self.domain_p = zipf(len(self.domain), 1.1, 1.0)
        self.nick = {k: v.split() for k, v in NICKNAMES.items()}
        self.twin_names = {}
        for a, b in TWIN_NAMES:
            self.twin_names.setdefault(a, []).append(b)
            self.twin_names.setdefault(b, []).append(a)
        rows = KEYBOARD
        self.near = {}
        for r, row in enumerate(rows):
            for i, ch in enumerate(row):
                n = row[max(0, i - 1) : i] + row[i + 1 : i + 2]
                for rr in (r - 1, r + 1):
                    if 0 <= rr < len(rows):
                        n += rows[rr][max(0, i - 1) : i + 1]
                self.near[ch] = n
        values = [*towns, *streets, *self.domain, *NICKNAMES, *(n for v in self.nick.values() for n in v)]
        values += [n for c in CULTURES.values() for part in c[1:] for n in words(part)]
        assert not any(ch in v for v in values for ch in ',"\n'), "vocabulary must be CSV-safe"


@cache
def vocab() -> Vocab:
    return Vocab()


# ---------------------------------------------------------------------------------------------------------------
# String corruptions, each on one value with a Python RNG.


def one_of(s: str, rules: list[tuple[str, str]], r: random.Random) -> str:
    """Apply one applicable (old, new) rewrite at one random occurrence."""
    options = [(a, b) for a, b in rules if a in s]
    if not options:
        return s
    a, b = options[r.randrange(len(options))]
    hits, at = [], s.find(a)
    while at >= 0:
        hits.append(at)
        at = s.find(a, at + 1)
    at = hits[r.randrange(len(hits))]
    return s[:at] + b + s[at + len(a) :]


def ocr(s: str, r: random.Random) -> str:
    return one_of(s, OCR, r)


def phonetic(s: str, r: random.Random) -> str:
    return one_of(s, PHONETIC, r)


def keyboard(s: str, r: random.Random) -> str:
    """Neighbour-key substitution, insertion, deletion or transposition of adjacent letters."""
    if len(s) < 2:
        return s
    op, i = r.randrange(4), r.randrange(len(s))
    near = vocab().near.get(s[i])
    if op == 0 and near:
        return s[:i] + near[r.randrange(len(near))] + s[i + 1 :]
    if op == 1 and near:
        return s[: i + 1] + near[r.randrange(len(near))] + s[i + 1 :]
    if op == 2 and len(s) > 3:
        return s[:i] + s[i + 1 :]
    if i == len(s) - 1:
        i -= 1
    return s[:i] + s[i + 1] + s[i] + s[i + 2 :]


def truncate(s: str, r: random.Random) -> str:
    return s if len(s) < 5 else s[: r.randint(max(3, len(s) // 2), len(s) - 1)]


def initial(s: str, r: random.Random) -> str:
    return s[0] + ("." if r.random() < 0.4 else "")


def nickname(s: str, r: random.Random) -> str:
    nicks = vocab().nick.get(s)
    if not nicks:
        return s
    return nicks[0] if r.random() < 0.6 else nicks[r.randrange(len(nicks))]


def half_surname(s: str, r: random.Random) -> str:
    """One part of a double surname, or both joined by a space."""
    if "-" not in s:
        return s
    first, second = s.split("-", 1)
    u = r.random()
    return first if u < 0.55 else second if u < 0.75 else f"{first} {second}"


def town_variant(s: str, r: random.Random) -> str:
    """Saint/st, mount/mt, fort/ft..., "st." with a dot, or the spaces dropped."""
    parts = s.split()
    hits = [i for i, p in enumerate(parts) if p in TOWN_WORDS]
    if len(parts) > 1 and (not hits or r.random() < 0.2):
        return "".join(parts)
    if not hits:
        return s
    i = hits[r.randrange(len(hits))]
    parts[i] = TOWN_WORDS[parts[i]]
    if parts[i] in ("st", "mt", "ft") and r.random() < 0.3:
        parts[i] += "."
    return " ".join(parts)


def apply(values: np.ndarray, mask: np.ndarray, fn: Callable[[str, random.Random], str], r: random.Random) -> None:
    idx = np.flatnonzero(mask)
    if len(idx):
        values[idx] = strings(fn(v, r) for v in values[idx])


def pick_ops(rng: np.random.Generator, n: int, rates: list[float]) -> np.ndarray:
    """At most one corruption per record: index into ``rates`` or -1 for none."""
    u = rng.random(n)
    op = np.searchsorted(np.cumsum(rates), u, side="right")
    return np.where(op < len(rates), op, -1)


def corrupt_name(rng: np.random.Generator, r: random.Random, values: np.ndarray, given: bool) -> None:
    fns: list[Callable[[str, random.Random], str]] = [ocr, phonetic, keyboard, truncate]
    rates = [0.015, 0.03, 0.03, 0.01]
    if given:
        fns, rates = [nickname, initial, *fns], [0.10, 0.04, *rates]
    op = pick_ops(rng, len(values), rates)
    for k, fn in enumerate(fns):
        apply(values, op == k, fn, r)
    apply(values, rng.random(len(values)) < 0.01, keyboard, r)  # a second slip


# ---------------------------------------------------------------------------------------------------------------
# Entities of one chunk.


def entity_sizes(rng: np.random.Generator, n_rows: int, max_size: int, n_giants: int) -> np.ndarray:
    """Records per entity summing to ``n_rows``: most 1, a power-law body up to max_size/5, a few giants."""
    giants = np.exp(rng.uniform(np.log(max(2, max_size // 2)), np.log(max_size + 1), n_giants)).astype(np.int64)
    giants = np.minimum(giants, max(1, n_rows // 3))
    cap = max(12, max_size // 5)
    k = np.arange(2, cap + 1)
    body_p = k**-2.8 / (k**-2.8).sum()
    rest = n_rows - int(giants.sum())
    draw = int(rest / 1.6) + 64
    body = np.where(rng.random(draw) < 0.66, 1, rng.choice(k, size=draw, p=body_p))
    while body.sum() < rest:
        body = np.concatenate([body, np.ones(rest - int(body.sum()), np.int64)])
    cum = np.cumsum(body)
    cut = int(np.searchsorted(cum, rest))
    body = body[: cut + 1].copy()
    body[-1] -= int(cum[cut]) - rest
    sizes = np.concatenate([giants, body[body > 0]])
    return sizes[rng.permutation(len(sizes))]


@dataclass
class Entities:
    n: int
    culture: np.ndarray
    male: np.ndarray
    age: np.ndarray
    hh: np.ndarray  # household number or -1
    head: np.ndarray  # head entity of the household (self if none)
    takes_name: np.ndarray  # carries the head's last name
    spouse: np.ndarray  # second parent of a household (may have a maiden name)
    twins: list[tuple[int, int]]
    juniors: list[tuple[int, int]]  # (parent, child) with the same first name
    stats: dict[str, int]


def households(rng: np.random.Generator, r: random.Random, n: int, v: Vocab) -> Entities:
    """Ages, genders and cultures of ``n`` entities, ~13% of them in households of 2-6."""
    culture = rng.choice(len(v.cultures), size=n, p=v.culture_p)
    male = rng.random(n) < 0.5
    age = 18 + 75 * rng.beta(1.4, 2.2, n)
    hh, head = np.full(n, -1), np.arange(n)
    takes_name, spouse = np.zeros(n, bool), np.zeros(n, bool)
    twins: list[tuple[int, int]] = []
    juniors: list[tuple[int, int]] = []
    sizes_h = rng.choice(HOUSEHOLD_SIZES[0], size=max(1, n // 4), p=HOUSEHOLD_SIZES[1])
    sizes_h = sizes_h[np.cumsum(sizes_h) <= HOUSEHOLD_SHARE * n]
    members = rng.permutation(n)[: int(sizes_h.sum())]
    kinds = {"couple": 0, "parent_child": 0, "adult_twins": 0, "roommates": 0, "family": 0}
    pos = 0
    for h, k in enumerate(sizes_h.tolist()):
        m = members[pos : pos + k].tolist()
        pos += k
        hh[m], head[m] = h, m[0]
        u = r.random()
        kind = ("couple" if u < 0.5 else "parent_child" if u < 0.7 else "adult_twins" if u < 0.9
                else "roommates") if k == 2 else "family"
        kinds[kind] += 1
        if kind == "roommates":
            continue
        culture[m] = culture[m[0]]
        if kind == "adult_twins":
            age[m] = r.uniform(18, 70)
            takes_name[m[1]] = True
            twins.append((m[0], m[1]))
            continue
        if kind == "couple":
            parents, kids = m, []
        elif kind == "parent_child" or r.random() < 0.2:
            parents, kids = m[:1], m[1:]
        else:
            parents, kids = m[:2], m[2:]
        eldest = r.uniform(0, 28) if kids else 0.0
        age[parents[0]] = (eldest + r.uniform(20, 40)) if kids else r.uniform(20, 85)
        if len(parents) == 2:
            age[parents[1]] = max(18.0, age[parents[0]] + r.uniform(-6, 6), eldest + 18)
            male[parents[1]] = not male[parents[0]] if r.random() < 0.92 else male[parents[0]]
            takes_name[parents[1]] = r.random() < 0.8
            spouse[parents[1]] = True
            if r.random() < 0.1:
                culture[parents[1]] = rng.choice(len(v.cultures), p=v.culture_p)
        for i, kid in enumerate(kids):
            age[kid] = eldest if i == 0 else max(0.0, eldest - r.uniform(0.8, 14))
            takes_name[kid] = r.random() < 0.95
        twin_kids: tuple[int, ...] = ()
        if len(kids) >= 2 and r.random() < 0.6:
            age[kids[1]] = age[kids[0]]
            takes_name[kids[:2]] = True
            twin_kids = (kids[0], kids[1])
            twins.append(twin_kids)
        namesakes = [kid for kid in kids if kid not in twin_kids]
        if namesakes and r.random() < (0.5 if kind == "parent_child" else 0.35):
            kid = namesakes[r.randrange(len(namesakes))]
            # mostly father and son: the first parent if its gender is the drawn one
            parent = parents[0] if len(parents) == 1 or male[parents[0]] == (r.random() < 0.85) else parents[1]
            male[kid] = male[parent]
            takes_name[[kid, parent]] = True
            juniors.append((parent, kid))
    stats = {"households": len(sizes_h), "household_entities": int(sizes_h.sum()), "twin_pairs": len(twins),
             "same_name_parent_child": len(juniors), **{f"households_{k}": c for k, c in kinds.items()}}
    return Entities(n, culture, male, age, hh, head, takes_name, spouse, twins, juniors, stats)


def draw_given(rng: np.random.Generator, v: Vocab, culture: np.ndarray, male: np.ndarray) -> np.ndarray:
    out = np.empty(len(culture), dtype=object)
    for c in range(len(v.cultures)):
        for g, is_male in enumerate((True, False)):
            idx = np.flatnonzero((culture == c) & (male == is_male))
            names, p = v.given[c][g]
            out[idx] = names[rng.choice(len(names), size=len(idx), p=p)]
    return out


def draw_surname(rng: np.random.Generator, v: Vocab, culture: np.ndarray) -> np.ndarray:
    n = len(culture)
    other = np.where(rng.random(n) < 0.08, rng.choice(len(v.cultures), size=n, p=v.culture_p), culture)
    out = np.empty(n, dtype=object)
    double = np.zeros(n, bool)
    second = np.empty(n, dtype=object)
    for c in range(len(v.cultures)):
        idx = np.flatnonzero(other == c)
        names, p = v.surname[c]
        out[idx] = names[rng.choice(len(names), size=len(idx), p=p)]
        second[idx] = names[rng.choice(len(names), size=len(idx), p=p)]
        double[idx] = rng.random(len(idx)) < (0.35 if v.cultures[c] == "hispanic" else 0.03)
    double &= out != second
    idx = np.flatnonzero(double)
    out[idx] = strings(f"{a}-{b}" for a, b in zip(out[idx], second[idx], strict=True))
    return out


def feminine(names: np.ndarray) -> np.ndarray:
    """Polish women's surnames end in -ska/-cka/-dzka where men's end in -ski/-cki/-dzki."""
    return strings(s[:-1] + "a" if s.endswith("ki") else s for s in names)


@dataclass
class Addresses:
    num: np.ndarray
    street: np.ndarray
    stype: np.ndarray
    unit: np.ndarray  # 0: none
    town: np.ndarray
    zip: np.ndarray
    plus4: np.ndarray
    landline: np.ndarray  # 0: none

    def take(self, idx: np.ndarray) -> Addresses:
        return Addresses(*(getattr(self, f)[idx] for f in self.__dataclass_fields__))

    def put(self, idx: np.ndarray, other: Addresses) -> None:
        for f in self.__dataclass_fields__:
            getattr(self, f)[idx] = getattr(other, f)


def phone_numbers(rng: np.random.Generator, area: np.ndarray) -> np.ndarray:
    return area * 10_000_000 + rng.integers(200, 1000, len(area)) * 10_000 + rng.integers(0, 10_000, len(area))


def draw_addresses(rng: np.random.Generator, v: Vocab, n: int, town: np.ndarray | None = None) -> Addresses:
    if town is None:
        town = rng.choice(len(v.town), size=n, p=v.town_p)
    num = np.clip(np.exp(rng.normal(3.3, 1.4, n)), 1, 9999).astype(np.int64)
    return Addresses(
        num=num,
        street=rng.choice(len(v.street), size=n, p=v.street_p),
        stype=rng.choice(len(v.stype_p), size=n, p=v.stype_p),
        unit=np.where(rng.random(n) < 0.14, rng.integers(1, 40, n), 0),
        town=town,
        zip=v.town_zip[town] + rng.integers(0, 1 << 30, n) % v.town_nzip[town],
        plus4=rng.integers(1, 10_000, n),
        landline=np.where(rng.random(n) < 0.35, phone_numbers(rng, v.town_area[town]), 0),
    )


def companies(rng: np.random.Generator, n_employed: int, n_rows: int, chunk: int, salt: int) -> np.ndarray:
    """Employer codes of ``n_employed`` people: Zipf company sizes from 2 up to ~2% of the rows.

    Companies of 20 or more people keep their code in every chunk (one big company across the
    file); smaller ones are local to the chunk.
    """
    if n_employed == 0:
        return np.empty(0, dtype=object)
    top = max(2, int(0.02 * n_rows / 1.9))
    size = np.maximum(2, (top / (np.arange(n_employed) + 1.0) ** 0.8).astype(np.int64))
    size = size[: int(np.searchsorted(np.cumsum(size), n_employed)) + 1]
    rank = np.arange(len(size))
    code_no = np.where(size >= 20, rank, 10_000 + chunk * 500_000 + rank)
    codes = strings(company_code(int(c), salt) for c in code_no)
    return codes[rng.permutation(np.repeat(rank, size))[:n_employed]]


def company_code(number: int, salt: int) -> str:
    """A 6-character base-36 code, a bijection of ``number`` (no two companies share one)."""
    x = (number * 1_500_450_271 + salt) % 36**6
    out = ""
    for _ in range(6):
        x, d = divmod(x, 36)
        out = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"[d] + out
    return out


def email_local(first: str, last: str, nick: list[str] | None, year: int, pattern: int, num: int) -> str:
    first, last = (x.replace(" ", "").replace("'", "").replace("-", "") for x in (first, last))
    if pattern == 8 and nick:
        first = nick[0]
    return [f"{first}.{last}", f"{first}{last}", f"{first[0]}{last}", f"{first}_{last}", f"{first}.{last[0]}",
            f"{last}.{first}", f"{first}{year % 100:02d}", f"{first}.{last}{num}", f"{first}.{last}"][pattern]


EMAIL_PATTERN_P = [0.22, 0.12, 0.14, 0.06, 0.05, 0.05, 0.12, 0.14, 0.10]


def emails(rng: np.random.Generator, r: random.Random, v: Vocab, culture: np.ndarray, first: np.ndarray,
           last: np.ndarray, year: np.ndarray, used: set[str]) -> np.ndarray:
    """One address per entity made from its names, unique over the whole file."""
    n = len(first)
    pattern = rng.choice(len(EMAIL_PATTERN_P), size=n, p=EMAIL_PATTERN_P)
    num = rng.integers(1, 100, n)
    domain = v.domain[rng.choice(len(v.domain), size=n, p=v.domain_p)]
    local_dom = {i: CULTURE_DOMAINS.get(c, "").split() for i, c in enumerate(v.cultures)}
    own = rng.random(n) < 0.25
    out = np.empty(n, dtype=object)
    for i in range(n):
        dom = domain[i]
        extra = local_dom[culture[i]]
        if own[i] and extra:
            dom = extra[r.randrange(len(extra))]
        local = email_local(first[i], last[i].split("-")[0], v.nick.get(first[i]), int(year[i]), pattern[i], num[i])
        address = f"{local}@{dom}"
        while address in used:
            address = f"{local}{r.randint(1, 999)}@{dom}"
        used.add(address)
        out[i] = address
    return out


@dataclass
class Chunk:
    columns: dict[str, np.ndarray]  # record values, None for empty
    entity: np.ndarray  # entity number within the chunk, per record
    sizes: np.ndarray
    stats: dict[str, int]


def make_chunk(rng: np.random.Generator, n_rows: int, max_size: int, n_giants: int, chunk: int, salt: int,
               used_emails: set[str]) -> Chunk:
    v = vocab()
    r = random.Random(int(rng.integers(1 << 62)))
    sizes = entity_sizes(rng, n_rows, max_size, n_giants)
    n = len(sizes)
    e = households(rng, r, n, v)
    members = np.flatnonzero(e.hh >= 0)
    heads = e.head[members]

    given = draw_given(rng, v, e.culture, e.male)
    nigerian = v.cultures.index("nigerian")
    for a, b in e.twins:
        similar = v.twin_names.get(given[a])
        if e.culture[a] == nigerian and r.random() < 0.5:
            given[a], given[b] = "taiwo", "kehinde"  # Yoruba names of the first- and second-born twin
        elif similar and r.random() < 0.35:
            given[b] = similar[r.randrange(len(similar))]
        while given[b] == given[a]:
            given[b] = draw_given(rng, v, e.culture[b : b + 1], e.male[b : b + 1])[0]
    for parent, kid in e.juniors:
        given[kid] = given[parent]
    own_surname = draw_surname(rng, v, e.culture)
    surname = own_surname.copy()
    takes = members[e.takes_name[members]]
    surname[takes] = own_surname[e.head[takes]]
    fem = np.flatnonzero(~e.male)
    surname[fem] = feminine(surname[fem])
    own_surname[fem] = feminine(own_surname[fem])
    maiden = np.flatnonzero(e.spouse & (~e.male) & e.takes_name & (own_surname != surname))

    age_days = (e.age * 365.25).astype(np.int64) + rng.integers(0, 365, n)
    birth = REF_DAY - age_days
    for a, b in e.twins:
        birth[b] = birth[a]
    for parent, kid in e.juniors:  # keep 20-40 years between namesakes
        gap = (birth[kid] - birth[parent]).astype(np.int64) / 365.25
        most = min(40.0, (REF_DAY - birth[parent]).astype(np.int64) / 365.25)
        if not 20 <= gap <= 40 and most > 20:
            birth[kid] = birth[parent] + int(r.uniform(20, most) * 365.25)
    e.age = (REF_DAY - birth).astype(np.int64) / 365.25

    home = draw_addresses(rng, v, n)
    # household members live at the head's address and share its landline (nine households in ten have one)
    line = np.where(home.landline > 0, home.landline, phone_numbers(rng, v.town_area[home.town]))
    line = np.where(rng.random(n) < 0.9, line, 0)
    home.put(members, home.take(heads))
    home.landline[members] = line[heads]
    area = np.where(rng.random(n) < 0.6, v.town_area[home.town], rng.choice(v.town_area, size=n))
    mobile = np.where((rng.random(n) < 0.85) & (e.age >= 12), phone_numbers(rng, area), 0)
    multi = sizes >= 2
    moved = multi & (rng.random(n) < 0.12)
    same_town = rng.random(n) < 0.4
    away = draw_addresses(rng, v, n, np.where(same_town, home.town, rng.choice(len(v.town), size=n, p=v.town_p)))
    away.landline = np.where(home.landline > 0, phone_numbers(rng, v.town_area[away.town]), away.landline)

    adult = e.age >= 18
    employed = adult & (rng.random(n) < np.where(e.age < 68, 0.78, 0.12))
    employer = np.full(n, None, dtype=object)
    employer[employed] = companies(rng, int(employed.sum()), n_rows, chunk, salt)
    job_change = employed & multi & (rng.random(n) < 0.1)
    employer2 = employer.copy()
    jc = np.flatnonzero(job_change)
    employer2[jc] = employer[np.flatnonzero(employed)[rng.integers(0, int(employed.sum()), len(jc))]]

    year = birth.astype("datetime64[Y]").astype(np.int64) + 1970
    has_email = (e.age >= 13) & (rng.random(n) < 0.82)
    mail = np.full(n, None, dtype=object)
    idx = np.flatnonzero(has_email)
    mail[idx] = emails(rng, r, v, e.culture[idx], given[idx], surname[idx], year[idx], used_emails)
    mail2 = mail.copy()
    changed = has_email & multi & (rng.random(n) < 0.15)
    idx = np.flatnonzero(changed)
    mail2[idx] = emails(rng, r, v, e.culture[idx], given[idx], surname[idx], year[idx] + 1, used_emails)

    # Records: each an independent corruption of its entity's values at a random time t.
    n_rec = int(sizes.sum())
    ent = np.repeat(np.arange(n), sizes)
    t = rng.random(n_rec)
    later_move, later_job, later_mail = (t > rng.uniform(0.2, 0.8, n)[ent] for _ in range(3))
    st = styles(rng, e.hh, ent)
    cols: dict[str, np.ndarray] = {}
    first, last = given[ent], surname[ent]
    is_maiden = np.isin(ent, maiden) & (rng.random(n_rec) < 0.2)
    last[is_maiden] = own_surname[ent[is_maiden]]
    corrupt_name(rng, r, first, given=True)
    apply(last, rng.random(n_rec) < 0.45, half_surname, r)
    corrupt_name(rng, r, last, given=False)
    swap = rng.random(n_rec) < 0.03
    first[swap], last[swap] = last[swap], first[swap]
    suffix_rec = []
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    for parent, kid in e.juniors:
        if r.random() < 0.35:
            who, tag = (kid, r.choice(["jr", "jr.", "junior"])) if r.random() < 0.7 else (parent, "sr")
            at = int(offsets[who] + r.randrange(int(sizes[who])))
            last[at] = f"{last[at]} {tag}"
            suffix_rec.append(at)
    cols["first_name"], cols["last_name"] = first, last
    cols["birth_date"] = birth_dates(rng, birth[ent], st["date"])
    addr = home.take(ent)
    moved_rec = np.flatnonzero(moved[ent] & later_move)
    addr.put(moved_rec, away.take(ent[moved_rec]))
    cols["address"] = street_addresses(rng, r, v, addr, st)
    cols["town"] = v.town[addr.town]
    op = pick_ops(rng, n_rec, [0.25, 0.03, 0.01])
    apply(cols["town"], op == 0, town_variant, r)
    apply(cols["town"], op == 1, keyboard, r)
    apply(cols["town"], op == 2, ocr, r)
    cols["zip"] = zips(rng, addr)
    cols["phone"] = phones(rng, addr.landline, mobile[ent], st)
    mail_rec = np.where(later_mail, mail2[ent], mail[ent])
    apply(mail_rec, (rng.random(n_rec) < 0.02) & pd.notna(mail_rec), keyboard, r)
    cols["email"] = mail_rec
    cols["employer_id"] = np.where(later_job, employer2[ent], employer[ent])

    case = st["case"]
    for c in ("first_name", "last_name", "address", "town"):
        s = pd.Series(cols[c])
        s[case == 0] = s[case == 0].str.title().str.replace(r"(?<=\d)[A-Z]+", lambda m: m[0].lower(), regex=True)
        s[case == 1] = s[case == 1].str.upper()
        cols[c] = s.to_numpy(dtype=object)
    blank(rng, cols, st)
    stats = {**e.stats, "moved_entities": int(moved.sum()), "job_changes": int(job_change.sum()),
             "email_changes": int(changed.sum()), "suffix_records": len(suffix_rec), "employed": int(employed.sum())}
    return Chunk(cols, ent, sizes, stats)


def styles(rng: np.random.Generator, hh: np.ndarray, ent: np.ndarray) -> dict[str, np.ndarray]:
    """Conventions of each record's source: letter case, formats, abbreviations, which columns it keeps.

    Most records of a household member come from a joint registration of the household (a utility
    account, a family doctor...), which writes all members alike.
    """
    n_rec = len(ent)
    hh = hh[ent]
    style = np.arange(n_rec)
    joint = (hh >= 0) & (rng.random(n_rec) < JOINT_REGISTRATION)
    style[joint] = n_rec + hh[joint]
    k = n_rec + int(hh.max(initial=-1)) + 1
    weights = np.array([w for w, _ in SOURCES.values()])
    return {
        "household": hh >= 0,
        "joint": joint,
        "case": rng.choice(3, size=k, p=CASES)[style],
        "date": rng.choice(4, size=k, p=DATE_FORMATS)[style],
        "phone": rng.choice(4, size=k, p=PHONE_FORMATS)[style],
        "abbr": (rng.random(k) < 0.35)[style],
        "ordinal": (rng.random(k) < 0.3)[style],
        "unit_drop": (rng.random(k) < 0.28)[style],
        "unit_style": np.where(rng.random(k) < 0.7, -1, rng.integers(0, len(UNIT_STYLES), k))[style],
        "source": rng.choice(len(SOURCES), size=k, p=weights / weights.sum())[style],
        "blank": rng.random((k, len(SPARSE)))[style],
    }


def birth_dates(rng: np.random.Generator, birth: np.ndarray, fmt: np.ndarray) -> np.ndarray:
    """Four formats, day/month swaps, years off by one, a day off by one."""
    n = len(birth)
    months = birth.astype("datetime64[M]")
    y = months.astype(np.int64) // 12 + 1970
    m = months.astype(np.int64) % 12 + 1
    d = (birth - months.astype("datetime64[D]")).astype(np.int64) + 1
    op = pick_ops(rng, n, [0.04, 0.03, 0.02])
    swap = (op == 0) & (d <= 12) & (d != m)
    m, d = np.where(swap, d, m), np.where(swap, m, d)
    y = y + np.where(op == 1, rng.choice([-1, 1], size=n), 0)
    d = d + np.where(op == 2, rng.choice([-1, 1], size=n), 0)
    first = ((y - 1970) * 12 + m - 1).astype("datetime64[M]")
    dim = ((first + 1).astype("datetime64[D]") - first.astype("datetime64[D]")).astype(np.int64)
    d = np.clip(d, 1, dim)
    forms = (
        lambda y, m, d: f"{y}-{m:02d}-{d:02d}",
        lambda y, m, d: f"{d:02d}/{m:02d}/{y}",
        lambda y, m, d: f"{m}/{d}/{y}",
        lambda y, m, d: f"{y}{m:02d}{d:02d}",
    )
    return strings(forms[f](a, b, c) for f, a, b, c in zip(fmt.tolist(), y.tolist(), m.tolist(), d.tolist(),
                                                             strict=True))


def street_addresses(rng: np.random.Generator, r: random.Random, v: Vocab, a: Addresses,
                     st: dict[str, np.ndarray]) -> np.ndarray:
    """House number, street, type (full or abbreviated), unit (dropped, added, in another style)."""
    n = len(a.num)
    abbr, ordinal = st["abbr"], st["ordinal"]
    unit = np.where((a.unit > 0) & st["unit_drop"], 0, a.unit)
    unit = np.where((unit == 0) & (rng.random(n) < 0.03), rng.integers(1, 40, n), unit)
    style = np.where(st["unit_style"] < 0, a.num % 3, st["unit_style"])  # mostly the one the entity uses
    streets, full = v.street, v.stype_full
    out = np.empty(n, dtype=object)
    for i, (num, sn, ty, ab, od, un, sy) in enumerate(zip(a.num.tolist(), a.street.tolist(), a.stype.tolist(),
                                                          abbr.tolist(), ordinal.tolist(), unit.tolist(),
                                                          style.tolist(), strict=True)):
        name = streets[sn]
        if od and name in ORDINALS:
            name = ORDINALS[name]
        kind = full[ty]
        if ab:
            forms = v.stype_abbr[ty]
            kind = forms[0] if len(forms) == 1 or r.random() < 0.8 else forms[1]
        out[i] = f"{num} {name} {kind} {UNIT_STYLES[sy]}{un}" if un else f"{num} {name} {kind}"
    op = pick_ops(rng, n, [0.03, 0.01])
    apply(out, op == 0, keyboard, r)
    apply(out, op == 1, lambda s, r: s.replace("1", "l", 1) if "1" in s else ocr(s, r), r)
    return out


def zips(rng: np.random.Generator, a: Addresses) -> np.ndarray:
    """Five digits, sometimes ZIP+4, a wrong digit now and then."""
    n = len(a.zip)
    z = a.zip.copy()
    typo = rng.random(n) < 0.02
    pos = 10 ** rng.integers(0, 5, n)
    z = np.where(typo, z - (z // pos % 10) * pos + rng.integers(0, 10, n) * pos, z)
    plus = rng.random(n) < 0.06
    return strings(f"{a:05d}-{b:04d}" if p else f"{a:05d}" for a, b, p in zip(z.tolist(), a.plus4.tolist(),
                                                                               plus.tolist(), strict=True))


def phones(rng: np.random.Generator, landline: np.ndarray, mobile: np.ndarray, st: dict[str, np.ndarray]) -> np.ndarray:
    """Landline (shared by a household) or mobile, in one of four formats, a wrong digit now and then."""
    n = len(landline)
    use_line = rng.random(n) < np.where(st["joint"], 0.9, np.where(st["household"], 0.6, 0.4))
    number = np.where((landline > 0) & ((mobile == 0) | use_line), landline, mobile)
    typo = (rng.random(n) < 0.02) & (number > 0)
    pos = 10 ** rng.integers(0, 7, n)
    number = np.where(typo, number - (number // pos % 10) * pos + rng.integers(0, 10, n) * pos, number)
    fmt = st["phone"]
    forms = (
        lambda s: f"+1 {s[:3]} {s[3:6]} {s[6:]}",
        lambda s: f"({s[:3]}) {s[3:6]}-{s[6:]}",
        lambda s: s,
        lambda s: f"{s[:3]}-{s[3:6]}-{s[6:]}",
    )
    return strings(forms[f](str(x)) if x else None for f, x in zip(fmt.tolist(), number.tolist(), strict=True))


def blank(rng: np.random.Generator, cols: dict[str, np.ndarray], st: dict[str, np.ndarray]) -> None:
    """Empty cells to the EMPTY rates; which sparse columns a record lacks depends on its source."""
    n = len(cols["first_name"])
    weights = np.array([w for w, _ in SOURCES.values()])
    drop = np.array([d for _, d in SOURCES.values()])
    drop = drop / (weights @ drop)
    for c in ("first_name", "last_name"):
        cols[c][rng.random(n) < EMPTY[c]] = None
    for j, c in enumerate(SPARSE):
        present = pd.notna(cols[c])
        need = max(0.0, (EMPTY[c] - (1 - present.mean())) / max(present.mean(), 1e-9))
        cols[c][present & (st["blank"][:, j] < np.minimum(1.0, need * drop[st["source"], j]))] = None


# ---------------------------------------------------------------------------------------------------------------
# Whole files.


def plan(rows: int) -> tuple[list[int], int, list[int]]:
    """Rows per chunk, the largest entity size and giant entities per chunk."""
    n_chunks = max(1, -(-rows // CHUNK_ROWS))
    chunk_rows = [rows // n_chunks + (i < rows % n_chunks) for i in range(n_chunks)]
    max_size = max(1, min(MAX_ENTITY, int(2 * np.sqrt(rows))))
    giants = max(1, round(np.sqrt(rows) / 60)) if rows >= 200 else 0
    return chunk_rows, max_size, [giants // n_chunks + (i < giants % n_chunks) for i in range(n_chunks)]


def tables(rows: int, seed: int) -> tuple[pa.Table, pa.Table, list[tuple[np.ndarray, dict[str, int]]]]:
    """Records and truth over all chunks in one random order, ids in file order; sizes and stats per chunk."""
    chunk_rows, max_size, giants = plan(rows)
    master, *rngs = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(len(chunk_rows) + 1))
    salt = int(master.integers(36**6))
    width = max(7, len(str(max(rows - 1, 0))))
    used: set[str] = set()
    parts, entities, info = [], [], []
    n_entities = 0
    for i, (rng, n, g) in enumerate(zip(rngs, chunk_rows, giants, strict=True)):
        ch = make_chunk(rng, n, max_size, g, i, salt, used)
        parts.append(pa.table({c: pa.array(ch.columns[c], type=pa.string()) for c in COLUMNS[1:]}))
        entities.append(pa.array(np.char.add("e", np.char.zfill((ch.entity + n_entities).astype("U"), width))))
        n_entities += len(ch.sizes)
        info.append((ch.sizes, ch.stats))
    order = pa.array(master.permutation(rows))
    rid = pa.array(np.char.add("p", np.char.zfill(np.arange(rows).astype("U"), width)))
    records = pa.concat_tables(parts).take(order).add_column(0, "id", rid)
    truth = pa.table({"id": rid, "entity_id": pa.chunked_array(entities, pa.string()).take(order)})
    return records, truth, info


def generate_frame(rows: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Records (empty cells as None) and truth (id, entity_id), as ``generate`` writes them."""
    records, truth, _ = tables(rows, seed)
    frame = lambda t: pd.DataFrame({c: t.column(c).to_pylist() for c in t.column_names}, dtype=object)  # noqa: E731
    return frame(records), frame(truth)


def write_csv(table: pa.Table, path: Path) -> None:
    """Plain CSV: no generated value holds a comma, quote or newline (pyarrow refuses one that does)."""
    with open(path, "wb") as f:
        f.write((",".join(table.column_names) + "\n").encode())
        pacsv.write_csv(table, f, write_options=pacsv.WriteOptions(include_header=False, quoting_style="none"))


def generate(rows: int, seed: int, out: Path) -> dict:
    """Write records.csv, truth.csv and meta.json to ``out``; return the meta."""
    out.mkdir(parents=True, exist_ok=True)
    records, truth, info = tables(rows, seed)
    write_csv(records, out / "records.csv")
    write_csv(truth, out / "truth.csv")
    sizes = np.concatenate([z for z, _ in info])
    stats: dict[str, int] = {}
    for _, chunk_stats in info:
        for k, x in chunk_stats.items():
            stats[k] = stats.get(k, 0) + x
    hist = np.bincount(np.searchsorted(SIZE_BINS, sizes, side="right") - 1, minlength=len(SIZE_BINS))
    n_entities, true_pairs, largest = len(sizes), int((sizes * (sizes - 1) // 2).sum()), int(sizes.max(initial=0))
    meta = {
        "primary_key": "id",
        "source_column": None,
        "task": "dedup",
        "n_records": rows,
        "n_entities": n_entities,
        "n_true_pairs": true_pairs,
        "pairs_counted": "all pairs",
        "generator": "synth_kin",
        "script": "bench/synth_kin.py",
        "rows": rows,
        "seed": seed,
        "largest_entity": largest,
        "entity_sizes": {label: int(c) for label, c in zip(SIZE_LABELS, hist, strict=True)},
        "stats": stats,
    }
    (out / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    return meta


SIZE_BINS = np.array([1, 2, 3, 4, 10, 50, 200, 500])
SIZE_LABELS = ["1", "2", "3", "4-9", "10-49", "50-199", "200-499", "500+"]


def hard_negative_pairs(records: pd.DataFrame, truth: pd.DataFrame, keys: list[str]) -> int:
    """Record pairs of different entities with equal, non-empty values in all ``keys``."""
    df = records[["id", *keys]].dropna(subset=keys).merge(truth, on="id")
    n = df.groupby(keys, sort=False).size().to_numpy()
    same = df.groupby([*keys, "entity_id"], sort=False).size().to_numpy()
    return int((n * (n - 1) // 2).sum() - (same * (same - 1) // 2).sum())


HARD_NEGATIVES = {
    "household": ["last_name", "address", "phone"],
    "twin": ["last_name", "birth_date", "address"],
    "parent_child": ["first_name", "last_name", "address"],
    "employer": ["employer_id"],
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, required=True, help="number of records")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    meta = generate(args.rows, args.seed, args.out)
    summary = {"out": str(args.out), "rows": meta["n_records"], "entities": meta["n_entities"],
               "true_pairs": meta["n_true_pairs"], "largest_entity": meta["largest_entity"],
               "seconds": round(time.perf_counter() - start, 2)}
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
