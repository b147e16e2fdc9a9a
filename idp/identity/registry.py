"""The civil registry: who exists, as the state records them. The IdP never creates people, only
identities for people the registry knows; the built-in registry is the `registry_people` table,
filled from the registry's CSV export (`import_csv`) or, for demos and load tests, `seed`.

A person's `mobile` is what registration proves possession of (a one-time code by SMS): the only
thing here an impostor who knows a citizen's ID, birth date and gender does not have.

Which registry an app asks is a setting (IDP_REGISTRY: this table, or the state's service over
HTTPS, idp/identity/registry_http.py); `registry_client.registry_from_settings` builds it once and
the app holds it. Both answer with `Person` values, detached from any database session."""
from __future__ import annotations

import contextlib
import csv
import dataclasses
import datetime as dt
import hmac
import io
import itertools
import operator
import os
import random
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import IO, Protocol, cast

from sqlalchemy import Column, Connection, MetaData, Table, func, select
from sqlalchemy.dialects import postgresql, sqlite

from idp.db import Database
from idp.errors import N_, ConfigError, ServiceUnavailable, ValidationError
from idp.identity.contact import normalise_mobile
from idp.identity.national_id import check_digit, is_valid
from idp.models import RegistryPerson

COLUMNS = ("national_id", "birth_date", "gender", "name_ar", "name_en", "nationality")  # required
OPTIONAL_COLUMNS = ("mobile",)  # empty or absent: the registry knows no mobile for the person
_STORED = (*COLUMNS, *OPTIONAL_COLUMNS)
MAX_NAME_LENGTH = 200
_TABLE = cast(Table, RegistryPerson.__table__)  # a FromClause to the type checker; a Table at run time


@dataclasses.dataclass(frozen=True)
class Person:
    """A person as the civil registry answered for them (whichever registry that is)."""

    national_id: str
    birth_date: dt.date  # Gregorian
    gender: str  # "M" or "F"
    name_ar: str
    name_en: str
    nationality: str  # ISO 3166-1 alpha-3
    mobile: str | None  # +9665XXXXXXXX, or None when the registry knows none

    @property
    def id_type(self) -> str:
        return "citizen" if self.national_id.startswith("1") else "resident"

    @classmethod
    def from_row(cls, row: RegistryPerson) -> Person:
        return cls(**{column: getattr(row, column) for column in _STORED})


class RegistryUnavailable(ServiceUnavailable):
    """The civil registry cannot be reached right now, or gave an answer we cannot use.

    `message` names the kind of failure (timed out, refused, HTTP 500, not a person…) and never a
    national ID or anything the registry said about a person: it goes to logs, the CLI and audit."""

    def __init__(self, reason: str):
        super().__init__(f"the civil registry cannot be reached: {reason}", reason=reason)
        self.reason = reason


class CivilRegistry(Protocol):
    """What the IdP asks a civil registry. A deployment may put the state's own service behind it.
    Either method may raise RegistryUnavailable; neither ever says *why* a person did not match."""

    def find(self, national_id: str) -> Person | None:
        """The person with this (valid, normalised) national ID, or None."""

    def match(self, national_id: str, birth_date: dt.date, gender: str) -> Person | None:
        """The person, if all three agree with the registry; None on any mismatch, without saying
        which: the caller shows one message so that the registry cannot be probed field by field."""


def matches(person: Person | None, birth_date: dt.date, gender: str) -> Person | None:
    """`person` if the claimed birth date and gender are theirs, decided here for every registry.
    One comparison of the two together, in constant time: no field can be told from the other."""
    claimed = f"{birth_date.isoformat()}|{gender}".encode()
    held = f"{person.birth_date.isoformat()}|{person.gender}".encode() if person else b"\0" * len(claimed)
    return person if hmac.compare_digest(claimed, held) and person is not None else None


class DatabaseRegistry:
    """The built-in registry: the `registry_people` table (IDP_REGISTRY=database), one short
    session a question."""

    def __init__(self, database: Database):
        self.database = database

    def find(self, national_id: str) -> Person | None:
        if not is_valid(national_id):
            return None
        with self.database.session() as session:
            row = session.get(RegistryPerson, national_id)
            return Person.from_row(row) if row is not None else None

    def match(self, national_id: str, birth_date: dt.date, gender: str) -> Person | None:
        return matches(self.find(national_id), birth_date, gender)


def parse_person(answer: Mapping[str, object]) -> Person:
    """A person from a registry's answer (a JSON object), checked as the CSV import checks a row;
    ValidationError naming what is wrong (never the value) otherwise."""
    fields = []
    for column in _STORED:
        value = answer.get(column)
        if value is None and column in OPTIONAL_COLUMNS:
            value = ""
        if not isinstance(value, str):
            raise ValidationError(f"{column} is missing or not a string")
        fields.append(value)
    try:
        return Person(**_person(list(_STORED), fields, dt.date.today()))
    except _Bad as e:
        raise ValidationError(str(e)) from None


# --- import ------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class ImportResult:
    rows: int
    inserted: int
    updated: int


def import_csv(database: Database, stream_or_path, batch_size: int = 10_000) -> ImportResult:
    """Upsert the people of a registry CSV export (UTF-8, header `national_id,birth_date,gender,
    name_ar,name_en,nationality[,mobile]`): all of them, or — on any bad row — none.

    The rows are checked as they stream into one transaction; a ValidationError naming the line
    rolls it back. The registry is authoritative, so a person already here is updated (their
    mobile too when the file has the column; a file without it leaves stored mobiles alone)."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    with _open_lines(stream_or_path) as lines, database.engine.begin() as connection:
        header: list[str] = []
        people = _read_people(lines, header)
        first = next(people, None)  # reads the header
        writer = _writer(connection, update_mobile="mobile" in header)
        rows = inserted = 0
        for batch in _batches(itertools.chain([first] if first else [], people), batch_size):
            inserted += writer.upsert(batch)
            rows += len(batch)
    return ImportResult(rows=rows, inserted=inserted, updated=rows - inserted)


@contextlib.contextmanager
def _open_lines(stream_or_path) -> Iterator[Iterator[str]]:
    """The lines of a path, a binary stream or a text stream, as text."""
    if isinstance(stream_or_path, (str, os.PathLike)):
        try:
            stream = open(stream_or_path, "rb")  # noqa: SIM115 (closed by the `with` below; opened apart for its error)
        except OSError as e:
            raise ValidationError(f"cannot read {os.fspath(stream_or_path)}: {e.strerror}") from None
        with stream:
            yield _decoded(stream)
    elif isinstance(stream_or_path, io.TextIOBase):
        yield stream_or_path
    else:
        yield _decoded(stream_or_path)


def _decoded(binary: IO[bytes]) -> Iterator[str]:
    # Line by line, not through a TextIOWrapper, so that an error can name its line.
    for number, line in enumerate(binary, 1):
        try:
            yield line.decode("utf-8")
        except UnicodeDecodeError:
            raise ValidationError(f"line {number}: not UTF-8 text", line=number) from None


def _read_people(lines: Iterable[str], header_out: list | None = None) -> Iterator[dict]:
    """Each row as the values to store, or ValidationError("line N: …"). The header's columns
    are put in `header_out` once read."""
    reader = csv.reader(lines, strict=True)
    seen, today = _SeenIds(), dt.date.today()
    try:
        header = _header(next(reader, None))
        if header_out is not None:
            header_out.extend(header)
        for fields in reader:
            if not fields:
                continue  # a blank line
            try:
                person = _person(header, fields, today)
                if not seen.add(person["national_id"]):
                    raise _Bad(N_("national_id appears on an earlier line too"))
            except _Bad as e:
                raise ValidationError(f"line {reader.line_num}: {e}", line=reader.line_num,
                                      problem=str(e)) from None
            yield person
    except csv.Error as e:
        raise ValidationError(f"line {reader.line_num}: {e}", line=reader.line_num) from None


def _header(fields: list[str] | None) -> list[str]:
    if not fields:
        raise ValidationError(f"line 1: expected the header {','.join(COLUMNS)}[,mobile]", line=1)
    header = [field.strip() for field in fields]
    header[0] = header[0].removeprefix("\ufeff")  # the byte-order mark some editors write
    problems = []
    if missing := [c for c in COLUMNS if c not in header]:
        problems.append(f"missing column(s) {', '.join(missing)}")
    if extra := [c for c in header if c not in _STORED]:
        problems.append(f"unknown column(s) {', '.join(extra)}")
    if len(set(header)) != len(header):
        problems.append("a column appears twice")
    if problems:
        raise ValidationError(f"line 1: {'; '.join(problems)}", line=1)
    return header


class _Bad(Exception):
    """What is wrong with one row (the caller adds the line number)."""


def _person(header: list[str], fields: list[str], today: dt.date) -> dict:
    if len(fields) != len(header):
        raise _Bad(f"expected {len(header)} fields, found {len(fields)}")
    row = dict(zip(header, fields, strict=True))
    person = {column: parse(row.get(column, "").strip()) for column, parse in _PARSERS.items()}
    if (person["national_id"][0] == "1") != (person["nationality"] == "SAU"):
        raise _Bad(N_("national_id starts with 1 for citizens (nationality SAU) and 2 for residents"))
    if person["birth_date"] > today:
        raise _Bad(N_("birth_date is in the future"))
    return person


def _national_id(value: str) -> str:
    if not (len(value) == 10 and value.isascii() and value.isdigit() and value[0] in "12"):
        raise _Bad(N_("national_id must be 10 digits, the first 1 or 2"))
    if check_digit(value[:9]) != value[9]:
        raise _Bad(N_("national_id fails the check digit"))
    return value


_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)


def _birth_date(value: str) -> dt.date:
    # fromisoformat alone would also take 19880229 and 1988-W09-1.
    try:
        if _ISO_DATE.fullmatch(value):
            return dt.date.fromisoformat(value)
    except ValueError:
        pass
    raise _Bad(N_("birth_date must be a Gregorian date, YYYY-MM-DD"))


def _gender(value: str) -> str:
    if value not in ("M", "F"):
        raise _Bad(N_("gender must be M or F"))
    return value


def _name(column: str):
    def parse(value: str) -> str:
        if not value:
            raise _Bad(f"{column} is empty")
        if len(value) > MAX_NAME_LENGTH:
            raise _Bad(f"{column} is longer than {MAX_NAME_LENGTH} characters")
        return value

    return parse


def _nationality(value: str) -> str:
    if not (len(value) == 3 and value.isascii() and value.isalpha() and value.isupper()):
        raise _Bad(N_("nationality must be 3 capital letters (ISO 3166-1 alpha-3)"))
    return value


def _mobile(value: str) -> str | None:
    if not value:
        return None
    try:
        return normalise_mobile(value)
    except ValidationError:
        raise _Bad(N_("mobile must be a Saudi mobile number, e.g. 0512345678 or +966512345678")) from None


_PARSERS = {"national_id": _national_id, "birth_date": _birth_date, "gender": _gender,
            "name_ar": _name("name_ar"), "name_en": _name("name_en"), "nationality": _nationality,
            "mobile": _mobile}


class _SeenIds:
    """The national IDs met so far, one bit for each possible one (the first nine digits fix
    the tenth): 25 MB however long the file; a set of ten million IDs would take about 1 GB."""

    def __init__(self):
        self._bits = bytearray(2 * 10**8 // 8)

    def add(self, national_id: str) -> bool:
        """False if it was there already."""
        byte, bit = divmod(int(national_id[:9]) - 10**8, 8)
        if self._bits[byte] >> bit & 1:
            return False
        self._bits[byte] |= 1 << bit
        return True


def _batches(items: Iterable, size: int) -> Iterator[list]:
    iterator = iter(items)
    while batch := list(itertools.islice(iterator, size)):
        yield batch


# --- writing -----------------------------------------------------------------------------------

def _writer(connection: Connection, update_mobile: bool = True) -> _SqliteWriter | _PostgresWriter:
    name = connection.dialect.name
    if name == "sqlite":
        return _SqliteWriter(connection, update_mobile)
    if name == "postgresql":
        return _PostgresWriter(connection, update_mobile)
    raise ConfigError(f"the civil registry needs PostgreSQL or SQLite, not {name}")


def _on_conflict_update(statement, update_mobile: bool):
    """The registry is authoritative: a person already here takes the incoming values."""
    columns = _STORED[1:] if update_mobile else COLUMNS[1:]
    return statement.on_conflict_do_update(
        index_elements=[_TABLE.c.national_id],
        set_={column: statement.excluded[column] for column in columns})


# SQLAlchemy closes an INSERT's cursor before reading its rowcount unless asked to keep it.
_ROWCOUNT = {"preserve_rowcount": True}


class _SqliteWriter:
    """Core executemany: SQLite is in-process, so a statement a row costs microseconds."""

    def __init__(self, connection: Connection, update_mobile: bool = True):
        self.connection = connection
        self.update_mobile = update_mobile

    def upsert(self, people: list[dict]) -> int:
        """Insert or update `people` (no two with one ID); how many were new."""
        ids = [person["national_id"] for person in people]
        existing = 0
        for start in range(0, len(ids), 5_000):  # SQLite allows 32,766 parameters a statement
            existing += len(self.connection.execute(select(_TABLE.c.national_id).where(
                _TABLE.c.national_id.in_(ids[start:start + 5_000]))).all())
        self.connection.execute(_on_conflict_update(sqlite.insert(_TABLE), self.update_mobile), people)
        return len(people) - existing

    def insert_new(self, people: list[dict]) -> int:
        """Insert those of `people` whose ID is free; how many were."""
        return self.connection.execute(sqlite.insert(_TABLE).on_conflict_do_nothing(), people,
                                       execution_options=_ROWCOUNT).rowcount


_INCOMING = Table("registry_incoming", MetaData(),
                  *(Column(column.name, column.type, nullable=column.nullable) for column in _TABLE.columns),
                  prefixes=["TEMPORARY"], postgresql_on_commit="DROP")
_VALUES = operator.itemgetter(*_STORED)


class _PostgresWriter:
    """COPY into a temporary table, then one INSERT … SELECT … ON CONFLICT a batch: about twice
    the rate of executemany (measured on 2 cores: ~25,000 rows/s against ~10,000 for upserts)."""

    def __init__(self, connection: Connection, update_mobile: bool = True):
        self.connection = connection
        self.update_mobile = update_mobile
        _INCOMING.create(connection)  # gone at the end of the transaction

    def upsert(self, people: list[dict]) -> int:
        self._load(people)
        existing = self.connection.scalar(select(func.count()).select_from(
            _INCOMING.join(_TABLE, _INCOMING.c.national_id == _TABLE.c.national_id))) or 0
        self.connection.execute(_on_conflict_update(
            postgresql.insert(_TABLE).from_select(_STORED, select(*(_INCOMING.c[c] for c in _STORED))),
            self.update_mobile))
        return len(people) - existing

    def insert_new(self, people: list[dict]) -> int:
        self._load(people)
        return self.connection.execute(postgresql.insert(_TABLE).from_select(
            _STORED, select(*(_INCOMING.c[c] for c in _STORED))).on_conflict_do_nothing(),
            execution_options=_ROWCOUNT).rowcount

    def _load(self, people: list[dict]) -> None:
        # TRUNCATE, not DELETE: autovacuum never visits temporary tables.
        self.connection.exec_driver_sql(f"TRUNCATE {_INCOMING.name}")
        sql = f"COPY {_INCOMING.name} ({', '.join(_STORED)}) FROM STDIN"
        raw = self.connection.connection.driver_connection  # psycopg's, on a connection in use: never None
        with raw.cursor() as cursor, cursor.copy(sql) as copy:  # type: ignore[union-attr]
            for person in people:
                copy.write_row(_VALUES(person))


# --- synthetic people --------------------------------------------------------------------------

def seed(database: Database, count: int, seed: int | None = None, batch_size: int = 10_000) -> int:
    """Add `count` synthetic people — valid IDs, plausible names and birth dates — for demos and
    load tests. The same `seed` on the same database gives the same people; IDs already present
    are skipped (and replaced by others). Returns how many were added."""
    rng = random.Random(seed)  # noqa: S311 (synthetic test data, reproducible by design: not a secret)
    added = 0
    with database.engine.begin() as connection:
        writer = _writer(connection)
        # Ends: the IDs are drawn from 200 million, and `count` is at most a few tens of millions.
        while added < count:
            added += writer.insert_new(
                [_synthetic_person(rng) for _ in range(min(batch_size, count - added))])
    return added


_FIRST_BIRTH = dt.date(1940, 1, 1).toordinal()
_LAST_BIRTH = dt.date(2008, 12, 31).toordinal()


def _synthetic_person(rng: random.Random) -> dict:
    draw = rng.random
    nationality = _pick(draw, _NATIONALITY_POPULATION)
    payload = f"{1 if nationality == 'SAU' else 2}{int(draw() * 10**8):08d}"
    gender = _pick(draw, "MF")
    names = _NAMES[nationality]
    parts = [_pick(draw, names.male if gender == "M" else names.female)]
    if names.with_father:
        parts.append(_pick(draw, names.male))
    parts.append(_pick(draw, names.family))
    return {
        "national_id": payload + check_digit(payload),
        "birth_date": dt.date.fromordinal(_FIRST_BIRTH + int(draw() * (_LAST_BIRTH - _FIRST_BIRTH + 1))),
        "gender": gender,
        "name_ar": " ".join([ar for ar, _ in parts]),
        "name_en": " ".join([en for _, en in parts]),
        "nationality": nationality,
        # Synthetic mobiles: +9665 and eight digits, so that seeded people can prove them (demo).
        "mobile": f"+9665{int(draw() * 10**8):08d}",
    }


def _pick(draw, choices):
    """random.choice at a fraction of the cost, which a million people add up to."""
    return choices[int(draw() * len(choices))]


@dataclasses.dataclass(frozen=True)
class _Names:
    male: list[tuple[str, str]]
    female: list[tuple[str, str]]
    family: list[tuple[str, str]]
    with_father: bool  # Arab names: first, father's, family; others: first, family


def _pairs(text: str) -> list[tuple[str, str]]:
    """Arabic:English pairs, space-separated, as a list of (Arabic, English) tuples."""
    return [(arabic, english) for arabic, english in (pair.split(":") for pair in text.split())]


_ARAB_MALE = _pairs(
    "محمد:Mohammed عبدالله:Abdullah عبدالرحمن:Abdulrahman فهد:Fahad خالد:Khalid سعود:Saud "
    "سلطان:Sultan فيصل:Faisal تركي:Turki ناصر:Nasser سعد:Saad عبدالعزيز:Abdulaziz إبراهيم:Ibrahim "
    "يوسف:Yousef عمر:Omar علي:Ali ماجد:Majed بندر:Bandar نايف:Naif أحمد:Ahmed")
_ARAB_FEMALE = _pairs(
    "نورة:Noura سارة:Sarah فاطمة:Fatimah ريم:Reem لمى:Lama هيفاء:Haifa منيرة:Munira "
    "العنود:Alanoud الجوهرة:Aljawhara مريم:Maryam عائشة:Aisha حصة:Hessa دانة:Dana شهد:Shahad "
    "رغد:Raghad لطيفة:Latifa")
_NAMES = {
    "SAU": _Names(_ARAB_MALE, _ARAB_FEMALE, _pairs(
        "القحطاني:Alqahtani العتيبي:Alotaibi الشمري:Alshammari الدوسري:Aldosari الغامدي:Alghamdi "
        "الزهراني:Alzahrani الحربي:Alharbi المطيري:Almutairi العنزي:Alanazi السبيعي:Alsubaie "
        "الشهري:Alshehri العمري:Alomari الرشيد:Alrasheed التميمي:Altamimi الجهني:Aljohani "
        "الشهراني:Alshahrani المالكي:Almalki الحارثي:Alharthi البقمي:Albaqami السديري:Alsudairi"),
        with_father=True),
    "PAK": _Names(_pairs("محمد:Muhammad عمران:Imran بلال:Bilal عثمان:Usman"),
                  _pairs("عائشة:Ayesha فاطمة:Fatima صبا:Saba"),
                  _pairs("خان:Khan حسين:Hussain قريشي:Qureshi ملك:Malik"), with_father=False),
    "IND": _Names(_pairs("راجيش:Rajesh سوريش:Suresh أنيل:Anil محمد:Mohammed"),
                  _pairs("بريا:Priya أنيتا:Anita لاكشمي:Lakshmi"),
                  _pairs("كومار:Kumar شارما:Sharma ناير:Nair سينغ:Singh"), with_father=False),
    "BGD": _Names(_pairs("رحيم:Rahim كريم:Karim حسن:Hasan"), _pairs("نسرين:Nasrin رقية:Rokeya"),
                  _pairs("شودري:Chowdhury إسلام:Islam رحمن:Rahman حسين:Hossain"), with_father=False),
    "PHL": _Names(_pairs("خوسيه:Jose مارك:Mark خوان:Juan"),
                  _pairs("ماريا:Maria أنجيليكا:Angelica جاسمين:Jasmine"),
                  _pairs("سانتوس:Santos رييس:Reyes كروز:Cruz غارسيا:Garcia"), with_father=False),
}
_ARAB_RESIDENT_FAMILIES = _pairs(
    "حداد:Haddad الخطيب:Alkhatib منصور:Mansour النجار:Alnajjar حسن:Hassan عثمان:Osman السيد:Elsayed")
for _code in ("EGY", "YEM", "SDN", "JOR"):
    _NAMES[_code] = _Names(_ARAB_MALE, _ARAB_FEMALE, _ARAB_RESIDENT_FAMILIES, with_father=True)
# Citizens mostly; residents in rough proportion to the kingdom's largest communities.
_NATIONALITY_POPULATION = tuple(itertools.chain.from_iterable(
    [code] * share for code, share in {"SAU": 75, "IND": 6, "PAK": 5, "BGD": 4, "EGY": 4, "PHL": 2,
                                       "YEM": 2, "SDN": 1, "JOR": 1}.items()))
