"""Seeded synthetic dirty person records with known duplicates, in the bench layout.

Usage::

    python bench/synth.py --rows 1000000 --seed 42 --out /tmp/synth_1m

writes ``OUT/records.csv`` (id, given_name, surname, dob, street_address, city, postcode,
email, phone), ``OUT/truth.csv`` (id, entity_id) and ``OUT/meta.json`` (task "dedup",
source_column null), like ``shared/datasets/<name>/bench/``.

Each entity has one original record and 0..4 duplicates (most entities none, most of the
rest one, a few 2-4), so about a third of all records are duplicates. Names, towns and
streets follow Zipf-like frequencies, so common values collide as in real data; postcodes
belong to towns (bigger towns have more districts). Duplicates are copies of the original
corrupted field by field at independent rates (see ``RATES``): typos (insert, delete,
keyboard-neighbour substitution, transposition), first/last name swap, nickname or initial,
day/month swap or one wrong digit in the date of birth, street-type abbreviation, moving
house, another e-mail domain or address, a wrong phone digit or another phone format. Any
record may have empty fields. E-mail addresses are made from the names and are unique within
a chunk (a number is added on a clash, as mail providers make people do). Rows are shuffled
and ids (``r0000123``) say nothing of the entity.

Output depends only on ``--rows`` and ``--seed``. Records are made and written in chunks of
``CHUNK_ROWS`` (duplicates of an entity share its chunk and are shuffled within it), so
10M rows run in bounded memory (~1-2 GB).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

sys.path.insert(0, str(Path(__file__).resolve().parent))
import synth_vocab as voc  # noqa: E402

CHUNK_ROWS = 1_000_000
COLUMNS = ["id", "given_name", "surname", "dob", "street_address", "city", "postcode", "email", "phone"]

# Number of duplicates per entity: P(0) and, given at least one, P(1..4).
P_HAS_DUPLICATES = 0.338
P_N_DUPLICATES = [0.70, 0.17, 0.08, 0.05]

# Corruption rates, applied to duplicates only, each independently.
RATES = {
    "name_swap": 0.03,
    "given_typo": 0.07,
    "given_nickname": 0.07,
    "given_initial": 0.03,
    "surname_typo": 0.07,
    "surname_upper": 0.02,
    "dob_swap": 0.03,
    "dob_digit": 0.05,
    "moved": 0.10,
    "street_abbrev": 0.25,
    "street_typo": 0.05,
    "city_typo": 0.04,
    "postcode_typo": 0.04,
    "postcode_nospace": 0.08,
    "email_domain": 0.08,
    "email_new": 0.05,
    "email_typo": 0.03,
    "phone_digit": 0.05,
    "phone_format": 0.25,
}
# Empty fields, on any record (originals and duplicates).
MISSING = {
    "given_name": 0.01,
    "surname": 0.005,
    "dob": 0.02,
    "street_address": 0.03,
    "city": 0.03,
    "postcode": 0.03,
    "email": 0.08,
    "phone": 0.10,
}
P_HAS_EMAIL, P_HAS_PHONE = 0.88, 0.90
EMAIL_PATTERN_P = [0.15, 0.10, 0.10, 0.20, 0.05, 0.15, 0.05, 0.20]  # see email_locals()
POSTCODE_LETTERS = np.array(list("ABDEFGHJLNPQRSTUWXYZ"), dtype=object)
NUM = np.array([str(i) for i in range(10_000)], dtype=object)
PAD2 = np.array([f"{i:02d}" for i in range(100)], dtype=object)
PAD3 = np.array([f"{i:03d}" for i in range(1000)], dtype=object)


def zipf(n: int, s: float, q: float) -> np.ndarray:
    """Zipf-Mandelbrot probabilities for ranks 1..n."""
    w = 1.0 / (np.arange(1, n + 1) + q) ** s
    return w / w.sum()


def postcode_areas(towns: list[str]) -> list[str]:
    """A unique two-letter postcode area per town, from its own letters where possible."""
    used: set[str] = set()
    areas = []
    letters = "ABCDEFGHIJKLMNOPRSTUWY"
    for town in towns:
        up = town.upper()
        tries = [up[0] + c for c in up[1:] if c.isalpha()] + [up[0] + c for c in letters]
        tries += [a + b for a in letters for b in letters]
        area = next(t for t in tries if t not in used)
        used.add(area)
        areas.append(area)
    return areas


class Vocab:
    """Value arrays and their sampling weights, shared by all chunks."""

    def __init__(self) -> None:
        obj = lambda xs: np.array(xs, dtype=object)  # noqa: E731
        self.given = obj(voc.FIRST_NAMES)
        self.given_lower = obj([g.lower() for g in voc.FIRST_NAMES])
        self.given_initial = obj([g[0].lower() for g in voc.FIRST_NAMES])
        self.given_p = zipf(len(self.given), 0.9, 5)
        self.surname = obj(voc.surnames())
        self.surname_lower = obj([x.lower().replace("'", "") for x in self.surname])
        self.surname_p = zipf(len(self.surname), 1.0, 15)
        towns = voc.towns()
        self.town = obj(towns)
        self.town_p = zipf(len(towns), 1.0, 2)
        self.area = obj(postcode_areas(towns))
        self.districts = 1 + np.floor(30 * np.sqrt(self.town_p / self.town_p[0])).astype(np.int64)
        self.street = obj(voc.STREET_NAMES)
        self.street_p = zipf(len(self.street), 0.7, 3)
        self.street_types = obj([voc.STREET_TYPES, voc.STREET_ABBREV])
        self.street_type_p = np.array(voc.STREET_TYPE_WEIGHTS) / sum(voc.STREET_TYPE_WEIGHTS)
        self.domain = obj(voc.EMAIL_DOMAINS)
        self.domain_p = zipf(len(self.domain), 1.2, 0.5)
        self.nicknames = {k: v.split() for k, v in voc.NICKNAMES.items()}
        self.near = voc.keyboard_neighbours()
        vocab = [*self.given, *self.surname, *self.town, *self.street, *self.domain]
        assert not any(c in x for x in vocab for c in ',"\n'), "vocabulary must be CSV-safe"


def entity_sizes(rng: np.random.Generator, n_rows: int) -> np.ndarray:
    """Records per entity (1 + duplicates), summing to exactly ``n_rows``."""
    has_dup = rng.random(n_rows) < P_HAS_DUPLICATES
    n_dup = rng.choice(np.arange(1, 5), size=n_rows, p=P_N_DUPLICATES) * has_dup
    sizes = 1 + n_dup
    sizes = sizes[np.cumsum(sizes) <= n_rows]
    return np.concatenate([sizes, np.ones(n_rows - int(sizes.sum()), dtype=sizes.dtype)])


def draw_address(rng: np.random.Generator, v: Vocab, n: int) -> dict[str, np.ndarray]:
    """Codes of ``n`` random addresses: house number, street, street type, town, postcode."""
    town = rng.choice(len(v.town), size=n, p=v.town_p)
    return {
        "house": np.minimum(1 + rng.exponential(25, n).astype(np.int64), 400),
        "street": rng.choice(len(v.street), size=n, p=v.street_p),
        "stype": rng.choice(len(v.street_type_p), size=n, p=v.street_type_p),
        "town": town,
        "district": 1 + (rng.random(n) * v.districts[town]).astype(np.int64),
        "inward": rng.integers(0, 10 * 20 * 20, n),
    }


def draw_entities(rng: np.random.Generator, v: Vocab, n: int) -> dict[str, np.ndarray]:
    """Codes of the true attributes of ``n`` entities."""
    days = rng.integers(0, (2006 - 1935) * 365, n)
    ent = {
        "given": rng.choice(len(v.given), size=n, p=v.given_p),
        "surname": rng.choice(len(v.surname), size=n, p=v.surname_p),
        "dob": np.datetime64("1935-01-01") + days,
        "email_pattern": rng.choice(len(EMAIL_PATTERN_P), size=n, p=EMAIL_PATTERN_P),
        "email_num": rng.integers(0, 100, n),
        "domain": rng.choice(len(v.domain), size=n, p=v.domain_p),
        "has_email": rng.random(n) < P_HAS_EMAIL,
        "phone_kind": rng.choice(3, size=n, p=[0.7, 0.2, 0.1]),
        "phone": rng.integers(0, 10**9, n),
        "has_phone": rng.random(n) < P_HAS_PHONE,
    }
    ent.update(draw_address(rng, v, n))
    return ent


def ymd(dates: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Year, month, day integer arrays of a datetime64[D] array."""
    months = dates.astype("datetime64[M]")
    year = months.astype(np.int64) // 12 + 1970
    month = months.astype(np.int64) % 12 + 1
    day = (dates - months.astype("datetime64[D]")).astype(np.int64) + 1
    return year, month, day


def days_in_month(year: np.ndarray, month: np.ndarray) -> np.ndarray:
    first = ((year - 1970) * 12 + month - 1).astype("datetime64[M]")
    return ((first + 1).astype("datetime64[D]") - first.astype("datetime64[D]")).astype(np.int64)


def corrupt_dob(rng: np.random.Generator, rec: dict, dup: np.ndarray) -> None:
    """Day/month swaps and one-wrong-digit errors in the y/m/d codes of duplicates."""
    y, m, d = rec["year"], rec["month"], rec["day"]
    swap = dup & (rng.random(len(y)) < RATES["dob_swap"]) & (d <= 12) & (d != m)
    m[swap], d[swap] = d[swap], m[swap].copy()
    rows = np.flatnonzero(dup & ~swap & (rng.random(len(y)) < RATES["dob_digit"]))
    part = rng.choice(5, size=len(rows), p=[0.35, 0.1, 0.15, 0.3, 0.1])
    place = np.array([1, 10, 1, 1, 10])[part]
    arrays = [y, y, m, d, d]
    old = np.choose(part, [a[rows] for a in arrays])
    digit = old // place % 10
    new = old + ((digit + rng.integers(1, 10, len(rows))) % 10 - digit) * place
    for k, arr in enumerate(arrays):
        sel = part == k
        arr[rows[sel]] = new[sel]
    bad = (m < 1) | (m > 12) | (d < 1) | (d > days_in_month(y, np.clip(m, 1, 12)))
    bad_rows = np.flatnonzero(bad)  # fall back to a year one off, a valid date
    y[bad_rows] = rec["year0"][bad_rows] + 1
    m[bad_rows], d[bad_rows] = rec["month0"][bad_rows], np.minimum(rec["day0"][bad_rows], 28)


def corrupt_codes(rng: np.random.Generator, v: Vocab, rec: dict, dup: np.ndarray) -> None:
    """Corruptions made on codes before strings are built: moves, dob, e-mail, phone."""
    n = len(dup)
    moved = pick(rng, dup, RATES["moved"])
    for key, codes in draw_address(rng, v, len(moved)).items():
        rec[key][moved] = codes
    rec["abbrev"] = (dup & (rng.random(n) < RATES["street_abbrev"])).astype(np.int64)
    rec["year"], rec["month"], rec["day"] = (a.copy() for a in ymd(rec["dob"]))
    rec["year0"], rec["month0"], rec["day0"] = ymd(rec["dob"])
    corrupt_dob(rng, rec, dup)
    corrupt_contact(rng, v, rec, dup)


def corrupt_contact(rng: np.random.Generator, v: Vocab, rec: dict, dup: np.ndarray) -> None:
    """Another e-mail domain or another address altogether; a wrong phone digit or format."""
    n = len(dup)
    rows = pick(rng, dup, RATES["email_domain"])
    rec["domain"][rows] = (rec["domain"][rows] + rng.integers(1, len(v.domain), len(rows))) % len(v.domain)
    rows = pick(rng, dup, RATES["email_new"])
    new = {"given": rec["given"][rows], "surname": rec["surname"][rows]}
    new["email_pattern"] = rng.choice(len(EMAIL_PATTERN_P), size=len(rows), p=EMAIL_PATTERN_P)
    new["email_num"] = rng.integers(0, 100, len(rows))
    rec["email_local"][rows] = email_locals(v, new) + NUM[rng.integers(100, 1000, len(rows))]
    rec["domain"][rows] = rng.choice(len(v.domain), size=len(rows), p=v.domain_p)
    rows = pick(rng, dup, RATES["phone_digit"])
    place = 10 ** rng.integers(0, 9, len(rows))
    digit = rec["phone"][rows] // place % 10
    rec["phone"][rows] += ((digit + rng.integers(1, 10, len(rows))) % 10 - digit) * place
    rec["phone_style"] = rng.choice(2, size=n, p=[0.85, 0.15])
    rows = pick(rng, dup, RATES["phone_format"])
    rec["phone_style"][rows] = rng.integers(0, 6, len(rows))


def by_choice(choice: np.ndarray, builders: list) -> np.ndarray:
    """``builders[k](rows)`` for the rows whose ``choice`` is k (strings built only where used)."""
    out = np.empty(len(choice), dtype=object)
    for k, build in enumerate(builders):
        rows = np.flatnonzero(choice == k)
        out[rows] = build(rows)
    return out


def email_locals(v: Vocab, rec: dict) -> np.ndarray:
    """E-mail local parts from the true names, in one of eight common patterns."""
    g = lambda r: v.given_lower[rec["given"][r]]  # noqa: E731
    s = lambda r: v.surname_lower[rec["surname"][r]]  # noqa: E731
    i = lambda r: v.given_initial[rec["given"][r]]  # noqa: E731
    nn = lambda r: PAD2[rec["email_num"][r]]  # noqa: E731
    patterns = [
        lambda r: g(r) + "." + s(r),
        lambda r: g(r) + s(r),
        lambda r: i(r) + s(r),
        lambda r: g(r) + "." + s(r) + nn(r),
        lambda r: s(r) + "." + g(r),
        lambda r: g(r) + nn(r),
        lambda r: i(r) + "." + s(r),
        lambda r: s(r) + i(r) + nn(r),
    ]
    return by_choice(rec["email_pattern"], patterns)


def unique_emails(rng: np.random.Generator, v: Vocab, ent: dict) -> np.ndarray:
    """Entity e-mail local parts; a number is added where two people would share an address."""
    local = email_locals(v, ent)
    domain = "@" + v.domain[ent["domain"]]
    for _ in range(10):
        clash = pd.Series(local + domain).duplicated().to_numpy()
        if not clash.any():
            break
        local[clash] = local[clash] + NUM[rng.integers(1, 1000, int(clash.sum()))]
    return local


def phones(rec: dict) -> np.ndarray:
    """Phone numbers (11 digits, UK-like) written in one of six formats."""
    kind, number = rec["phone_kind"], rec["phone"]
    p2 = np.array(["07", "01", "02"], dtype=object)[kind]
    p1 = np.array(["7", "1", "2"], dtype=object)[kind]
    head, b, c = p2 + PAD3[number // 10**6], PAD3[number // 1000 % 1000], PAD3[number % 1000]
    styles = [
        lambda r: head[r] + " " + b[r] + c[r],
        lambda r: head[r] + b[r] + c[r],
        lambda r: "+44 " + p1[r] + PAD3[number[r] // 10**6] + " " + b[r] + c[r],
        lambda r: head[r] + " " + b[r] + " " + c[r],
        lambda r: "(" + head[r] + ") " + b[r] + c[r],
        lambda r: head[r] + "-" + b[r] + "-" + c[r],
    ]
    return by_choice(rec["phone_style"], styles)


def build_strings(v: Vocab, rec: dict) -> dict[str, np.ndarray]:
    """Column strings (object arrays) from the record codes."""
    inward = rec["inward"]
    letters = POSTCODE_LETTERS
    return {
        "given_name": v.given[rec["given"]],
        "surname": v.surname[rec["surname"]],
        "dob": NUM[rec["year"]] + "-" + PAD2[rec["month"]] + "-" + PAD2[rec["day"]],
        "street_address": NUM[rec["house"]]
        + " "
        + v.street[rec["street"]]
        + " "
        + v.street_types[rec["abbrev"], rec["stype"]],
        "city": v.town[rec["town"]],
        "postcode": v.area[rec["town"]]
        + NUM[rec["district"]]
        + " "
        + NUM[inward // 400]
        + letters[inward // 20 % 20]
        + letters[inward % 20],
        "email_local": rec["email_local"],
        "email_domain": v.domain[rec["domain"]],
        "phone": phones(rec),
    }


def typo(s: str, op: int, a: float, b: float, near: dict[str, str]) -> str:
    """One typing error in ``s``: insert, delete, substitute (keyboard neighbour), transpose."""
    if len(s) < 3:
        return s
    i = 1 + int(a * (len(s) - 1))  # first characters are rarely mistyped
    c = s[min(i, len(s) - 1)]
    keys = near.get(c.lower(), "aeiou")
    new = keys[int(b * len(keys))]
    new = new.upper() if c.isupper() else new
    if op == 0:
        return s[:i] + new + s[i:]
    if op == 1:
        return s[:i] + s[i + 1 :]
    if op == 2:
        return s[:i] + new + s[i + 1 :]
    i = min(i, len(s) - 2)
    return s[:i] + s[i + 1] + s[i] + s[i + 2 :]


def typos(rng: np.random.Generator, values: np.ndarray, near: dict[str, str]) -> np.ndarray:
    n = len(values)
    ops, a, b = rng.integers(0, 4, n), rng.random(n), rng.random(n)
    args = zip(values, ops.tolist(), a.tolist(), b.tolist(), strict=True)
    out = [typo(s, op, x, y, near) for s, op, x, y in args]
    return np.array(out, dtype=object)


def pick(rng: np.random.Generator, dup: np.ndarray, rate: float) -> np.ndarray:
    """Indices of duplicates chosen at ``rate``."""
    return np.flatnonzero(dup & (rng.random(len(dup)) < rate))


def corrupt_names(rng: np.random.Generator, v: Vocab, cols: dict, dup: np.ndarray) -> None:
    """Nicknames, initials, typos, upper case and first/last name swaps on duplicates."""
    given, surname = cols["given_name"], cols["surname"]
    rows = pick(rng, dup, RATES["given_nickname"])
    rows = rows[np.isin(given[rows], list(v.nicknames))]
    u = rng.random(len(rows))
    given[rows] = [v.nicknames[g][int(x * len(v.nicknames[g]))] for g, x in zip(given[rows], u, strict=True)]
    rows = pick(rng, dup, RATES["given_initial"])
    dots = np.where(rng.random(len(rows)) < 0.5, ".", "")
    given[rows] = [g[0] + d for g, d in zip(given[rows], dots, strict=True)]
    rows = pick(rng, dup, RATES["given_typo"])
    given[rows] = typos(rng, given[rows], v.near)
    rows = pick(rng, dup, RATES["surname_typo"])
    surname[rows] = typos(rng, surname[rows], v.near)
    rows = pick(rng, dup, RATES["surname_upper"])
    surname[rows] = [s.upper() for s in surname[rows]]
    rows = pick(rng, dup, RATES["name_swap"])
    given[rows], surname[rows] = surname[rows], given[rows]


def corrupt_other(rng: np.random.Generator, v: Vocab, cols: dict, dup: np.ndarray) -> None:
    """Typos in address, town, postcode and e-mail; postcodes written without the space."""
    for col in ["street_address", "city", "email_local"]:
        rows = pick(rng, dup, RATES[col.split("_")[0] + "_typo"])
        cols[col][rows] = typos(rng, cols[col][rows], v.near)
    postcode = cols["postcode"]
    rows = pick(rng, dup, RATES["postcode_typo"])
    pos = rng.integers(0, 3, len(rows))
    chars = rng.choice(POSTCODE_LETTERS, len(rows))
    edits = zip(postcode[rows], pos, chars, strict=True)
    postcode[rows] = [p[: -1 - k] + c + p[len(p) - k :] for p, k, c in edits]
    rows = pick(rng, dup, RATES["postcode_nospace"])
    postcode[rows] = [p.replace(" ", "") for p in postcode[rows]]


def blank(rng: np.random.Generator, cols: dict, rec: dict) -> None:
    """Empty fields: people without e-mail or phone, and gaps on any record."""
    n = len(rec["has_email"])
    cols["email"] = cols.pop("email_local") + "@" + cols.pop("email_domain")
    cols["email"][~rec["has_email"]] = None
    cols["phone"][~rec["has_phone"]] = None
    for col, rate in MISSING.items():
        cols[col][rng.random(n) < rate] = None


def make_chunk(rng: np.random.Generator, v: Vocab, n_rows: int) -> tuple[dict, np.ndarray, np.ndarray]:
    """``n_rows`` shuffled records: (column arrays, local entity index, entity sizes)."""
    sizes = entity_sizes(rng, n_rows)
    entity = np.repeat(np.arange(len(sizes)), sizes)
    first = np.repeat(np.cumsum(sizes) - sizes, sizes)
    dup = np.arange(n_rows) != first
    ent = draw_entities(rng, v, len(sizes))
    ent["email_local"] = unique_emails(rng, v, ent)
    rec = {k: a[entity] for k, a in ent.items()}
    corrupt_codes(rng, v, rec, dup)
    cols = build_strings(v, rec)
    corrupt_names(rng, v, cols, dup)
    corrupt_other(rng, v, cols, dup)
    blank(rng, cols, rec)
    order = rng.permutation(n_rows)
    return {k: a[order] for k, a in cols.items()}, entity[order], sizes


def ids(prefix: str, start: int, values: np.ndarray, width: int) -> pa.Array:
    """Ids like ``r0000123`` for integer values offset by ``start``."""
    digits = np.char.zfill((values + start).astype("U"), width)
    return pa.array(np.char.add(prefix, digits))


@contextlib.contextmanager
def csv_writer(path: Path, schema: pa.Schema):
    """Plain CSV writer: no quotes (no generated value holds a comma, quote or newline)."""
    opts = pacsv.WriteOptions(include_header=False, quoting_style="none")
    with open(path, "wb") as f:
        f.write((",".join(schema.names) + "\n").encode())
        with pacsv.CSVWriter(f, schema, write_options=opts) as writer:
            yield writer


def generate(rows: int, seed: int, out: Path) -> dict:
    """Write records.csv, truth.csv and meta.json to ``out``; return the meta."""
    out.mkdir(parents=True, exist_ok=True)
    v, width = Vocab(), max(7, len(str(max(rows - 1, 0))))
    n_chunks = max(1, -(-rows // CHUNK_ROWS))
    rngs = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(n_chunks)]
    done = n_entities = true_pairs = 0
    rec_schema = pa.schema([(c, pa.string()) for c in COLUMNS])
    truth_schema = pa.schema([("id", pa.string()), ("entity_id", pa.string())])
    with (
        csv_writer(out / "records.csv", rec_schema) as rec_w,
        csv_writer(out / "truth.csv", truth_schema) as truth_w,
    ):
        for rng in rngs:
            n = min(CHUNK_ROWS, rows - done)
            cols, entity, sizes = make_chunk(rng, v, n)
            rid = ids("r", done, np.arange(n), width)
            data = [rid] + [pa.array(cols[c], type=pa.string()) for c in COLUMNS[1:]]
            rec_w.write_table(pa.Table.from_arrays(data, schema=rec_schema))
            eid = ids("e", n_entities, entity, width)
            truth_w.write_table(pa.Table.from_arrays([rid, eid], schema=truth_schema))
            done, n_entities = done + n, n_entities + len(sizes)
            true_pairs += int((sizes * (sizes - 1) // 2).sum())
    return write_meta(out, rows, seed, n_entities, true_pairs)


def write_meta(out: Path, rows: int, seed: int, n_entities: int, true_pairs: int) -> dict:
    meta = {
        "primary_key": "id",
        "source_column": None,
        "task": "dedup",
        "n_records": rows,
        "n_entities": n_entities,
        "n_true_pairs": true_pairs,
        "pairs_counted": "all pairs",
        "generator": {"script": "bench/synth.py", "rows": rows, "seed": seed},
    }
    (out / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    return meta


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, required=True, help="number of records")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    meta = generate(args.rows, args.seed, args.out)
    meta["seconds"] = round(time.perf_counter() - start, 2)
    print(json.dumps(meta))
    return 0


if __name__ == "__main__":
    sys.exit(main())
