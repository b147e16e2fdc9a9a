"""The civil registry: matching a person, importing the registry's CSV export, synthetic people."""
import datetime as dt
import io

import pytest
from sqlalchemy import func, select

from idp.errors import ValidationError
from idp.identity.national_id import is_valid
from idp.identity.registry import COLUMNS, DatabaseRegistry, ImportResult, Person, import_csv, seed
from idp.models import RegistryPerson
from tests.conftest import make_national_id

HEADER = ",".join(COLUMNS)
CITIZEN = make_national_id("1", 5001)
RESIDENT = make_national_id("2", 5002)
GOOD_ROWS = [
    f"{CITIZEN},1988-02-29,F,سارة فهد الشمري,Sarah Fahad Alshammari,SAU",
    f'{RESIDENT},1979-11-05,M,"خوسيه سانتوس","Santos, Jose",PHL',
]


def csv_bytes(*rows, header=HEADER, bom=False) -> bytes:
    text = "\r\n".join([header, *rows]) + "\r\n"
    return ("\ufeff" if bom else "").encode() + text.encode()


def count(db) -> int:
    return db.scalar(select(func.count()).select_from(RegistryPerson))


# --- match -------------------------------------------------------------------------------------

def test_find(services, people):
    registry = DatabaseRegistry(services.db)
    assert registry.find(people["citizen"].national_id).name_en == "Mohammed Abdullah Alqahtani"
    assert registry.find(make_national_id("1", 9999)) is None
    assert registry.find("1234") is None


def test_match_when_all_three_agree(services, people):
    person = people["resident"]
    assert DatabaseRegistry(services.db).match(person.national_id, person.birth_date, person.gender) == \
        Person.from_row(person)


@pytest.mark.parametrize("field", ["national_id", "birth_date", "gender"])
def test_any_mismatch_is_none(services, people, field):
    person = people["citizen"]
    claimed = {"national_id": person.national_id, "birth_date": person.birth_date, "gender": person.gender}
    claimed[field] = {"national_id": people["citizen2"].national_id,
                      "birth_date": person.birth_date + dt.timedelta(days=1),
                      "gender": "F"}[field]
    assert DatabaseRegistry(services.db).match(**claimed) is None


def test_match_of_an_unknown_or_invalid_id_is_none(services, people):
    registry = DatabaseRegistry(services.db)
    assert registry.match(make_national_id("1", 9999), dt.date(1990, 3, 15), "M") is None
    assert registry.match("1000010010", dt.date(1990, 3, 15), "M") is None


# --- import ------------------------------------------------------------------------------------

def test_import_a_good_file(services, db, tmp_path):
    path = tmp_path / "people.csv"
    path.write_bytes(csv_bytes(*GOOD_ROWS))
    assert import_csv(services.db, path) == ImportResult(rows=2, inserted=2, updated=0)
    resident = db.get(RegistryPerson, RESIDENT)
    assert (resident.name_ar, resident.name_en) == ("خوسيه سانتوس", "Santos, Jose")
    assert (resident.birth_date, resident.gender, resident.nationality) == (dt.date(1979, 11, 5), "M", "PHL")
    assert resident.id_type == "resident"


def test_import_from_a_stream_with_a_bom_and_columns_in_any_order(services, db):
    rows = [",".join(reversed(row.split(","))) for row in GOOD_ROWS[:1]]
    data = csv_bytes(*rows, header=",".join(reversed(COLUMNS)), bom=True)
    assert import_csv(services.db, io.BytesIO(data)).inserted == 1
    assert db.get(RegistryPerson, CITIZEN).birth_date == dt.date(1988, 2, 29)


def test_import_from_a_text_stream_with_a_bom(services, db):
    text = io.StringIO(csv_bytes(*GOOD_ROWS, bom=True).decode(), newline="")
    assert import_csv(services.db, text).rows == 2


def test_reimport_updates_what_changed(services, db, people):
    citizen = people["citizen"]
    import_csv(services.db, io.BytesIO(csv_bytes(*GOOD_ROWS)))
    changed = [f"{citizen.national_id},1990-03-16,M,محمد عبدالله الدوسري,Mohammed Abdullah Aldosari,SAU",
               GOOD_ROWS[0].replace("Sarah", "Sara")]
    result = import_csv(services.db, io.BytesIO(csv_bytes(*changed)), batch_size=1)
    assert result == ImportResult(rows=2, inserted=0, updated=2)
    db.expire_all()
    assert db.get(RegistryPerson, citizen.national_id).name_en == "Mohammed Abdullah Aldosari"
    assert db.get(RegistryPerson, citizen.national_id).birth_date == dt.date(1990, 3, 16)
    assert db.get(RegistryPerson, CITIZEN).name_en == "Sara Fahad Alshammari"
    assert count(db) == 5  # the people fixture's three, and the file's two


def test_blank_lines_are_skipped(services):
    data = csv_bytes(GOOD_ROWS[0], "", GOOD_ROWS[1], "")
    assert import_csv(services.db, io.BytesIO(data)).rows == 2


BAD_ROWS = [
    (f"{CITIZEN[:9]}0,1988-02-29,F,سارة,Sarah,SAU", "national_id fails the check digit"),
    ("12345,1988-02-29,F,سارة,Sarah,SAU", "national_id must be 10 digits"),
    (f"3{CITIZEN[1:]},1988-02-29,F,سارة,Sarah,SAU", "national_id must be 10 digits"),
    (f"{CITIZEN},1988-02-30,F,سارة,Sarah,SAU", "birth_date must be a Gregorian date"),
    (f"{CITIZEN},29/02/1988,F,سارة,Sarah,SAU", "birth_date must be a Gregorian date"),
    (f"{CITIZEN},1409-06-12x,F,سارة,Sarah,SAU", "birth_date must be a Gregorian date"),
    (f"{CITIZEN},2999-01-01,F,سارة,Sarah,SAU", "birth_date is in the future"),
    (f"{CITIZEN},1988-02-29,f,سارة,Sarah,SAU", "gender must be M or F"),
    (f"{CITIZEN},1988-02-29,X,سارة,Sarah,SAU", "gender must be M or F"),
    (f"{CITIZEN},1988-02-29,F,,Sarah,SAU", "name_ar is empty"),
    (f"{CITIZEN},1988-02-29,F,سارة, ,SAU", "name_en is empty"),
    (f"{CITIZEN},1988-02-29,F,{'س' * 201},Sarah,SAU", "name_ar is longer than 200"),
    (f"{CITIZEN},1988-02-29,F,سارة,Sarah,sau", "nationality must be 3 capital letters"),
    (f"{CITIZEN},1988-02-29,F,سارة,Sarah,SA", "nationality must be 3 capital letters"),
    (f"{CITIZEN},1988-02-29,F,سارة,Sarah,PHL", "national_id starts with 1 for citizens"),
    (f"{RESIDENT},1988-02-29,F,سارة,Sarah,SAU", "national_id starts with 1 for citizens"),
    (f"{CITIZEN},1988-02-29,F,سارة,Sarah", "expected 6 fields, found 5"),
    (f"{CITIZEN},1988-02-29,F,سارة,Sarah,SAU,extra", "expected 6 fields, found 7"),
    (GOOD_ROWS[0], "national_id appears on an earlier line too"),
    (f'{CITIZEN},1988-02-29,F,"سارة"x,Sarah,SAU', "line 4: ','"),  # the csv module's own words
]


@pytest.mark.parametrize(("row", "problem"), BAD_ROWS)
def test_a_bad_row_names_its_line_and_imports_nothing(services, db, people, row, problem):
    data = csv_bytes(*GOOD_ROWS, row, GOOD_ROWS[1].replace(RESIDENT, make_national_id("2", 5003)))
    with pytest.raises(ValidationError) as raised:
        import_csv(services.db, io.BytesIO(data), batch_size=1)
    assert raised.value.message.startswith("line 4: ") and problem in raised.value.message
    assert count(db) == 3  # the people fixture, and none of the file


@pytest.mark.parametrize(("header", "problem"), [
    ("national_id,birth_date,gender,name_ar,name_en", "line 1: missing column(s) nationality"),
    (HEADER + ",phone", "line 1: unknown column(s) phone"),
    (HEADER + ",mobile,mobile", "line 1: a column appears twice"),
    (HEADER.replace("name_en", "name"), "missing column(s) name_en; unknown column(s) name"),
    (HEADER.replace("name_en", "name_ar"), "column"),
    (GOOD_ROWS[0], "missing column(s) national_id"),
])
def test_a_bad_header_is_refused(services, header, problem):
    with pytest.raises(ValidationError, match=problem.replace("(", r"\(").replace(")", r"\)")):
        import_csv(services.db, io.BytesIO(csv_bytes(*GOOD_ROWS, header=header)))


def test_an_empty_file_is_refused(services):
    with pytest.raises(ValidationError, match="line 1: expected the header national_id,birth_date"):
        import_csv(services.db, io.BytesIO(b""))


def test_a_file_that_is_not_utf8_names_the_line(services, db):
    data = csv_bytes(GOOD_ROWS[0]) + GOOD_ROWS[1].encode("cp1256") + b"\r\n"
    with pytest.raises(ValidationError, match="line 3: not UTF-8 text"):
        import_csv(services.db, io.BytesIO(data))
    assert count(db) == 0


def test_a_missing_file(services, tmp_path):
    with pytest.raises(ValidationError, match="cannot read .*nope.csv: No such file"):
        import_csv(services.db, tmp_path / "nope.csv")


# --- seed --------------------------------------------------------------------------------------

def all_people(db) -> list[tuple]:
    columns = [getattr(RegistryPerson, column) for column in COLUMNS]
    return [tuple(row) for row in db.execute(select(*columns).order_by(RegistryPerson.national_id))]


def test_seeded_people_are_valid(services, db):
    assert seed(services.db, 2_000, seed=7, batch_size=300) == 2_000
    people = all_people(db)
    assert len(people) == 2_000
    for national_id, birth_date, gender, name_ar, name_en, nationality in people:
        assert is_valid(national_id)
        assert (nationality == "SAU") == (national_id[0] == "1")
        assert dt.date(1940, 1, 1) <= birth_date <= dt.date(2008, 12, 31)
        assert gender in ("M", "F")
        assert len(name_ar.split()) == len(name_en.split()) in (2, 3)
        assert len(nationality) == 3 and nationality.isupper()
    mobiles = db.scalars(select(RegistryPerson.mobile)).all()
    assert all(mobile and len(mobile) == 13 and mobile.startswith("+9665") for mobile in mobiles)
    citizens = sum(1 for person in people if person[5] == "SAU")
    assert 0.6 < citizens / len(people) < 0.9
    assert {"M", "F"} == {person[2] for person in people}


def test_seeding_is_deterministic(services, db, tmp_path):
    from idp.db import Database

    seed(services.db, 500, seed=42)
    other = Database(f"sqlite:///{tmp_path / 'other.sqlite3'}")
    other.upgrade()
    seed(other, 500, seed=42, batch_size=64)
    with other.session() as other_session:
        assert all_people(db) == all_people(other_session)
    other.dispose()


def test_seeding_again_skips_people_already_there(services, db):
    assert seed(services.db, 300, seed=1) == 300
    first = all_people(db)
    assert seed(services.db, 300, seed=1) == 300  # the same 300 first, all skipped; then 300 others
    assert set(first) < set(all_people(db)) and count(db) == 600


def test_seeded_people_can_be_matched(services, db):
    seed(services.db, 10, seed=3)
    national_id, birth_date, gender, *_ = all_people(db)[0]
    assert DatabaseRegistry(services.db).match(national_id, birth_date, gender) is not None


# --- the registry's mobile (proofing at registration) -------------------------------------------

def mobile_of(db, national_id):
    db.expire_all()
    return db.get(RegistryPerson, national_id).mobile


def test_the_optional_mobile_column_is_imported_in_e164(services, db):
    data = csv_bytes(GOOD_ROWS[0] + ",٠٥١٢٣٤٥٦٧٨", GOOD_ROWS[1] + ",", header=HEADER + ",mobile")
    assert import_csv(services.db, io.BytesIO(data)) == ImportResult(rows=2, inserted=2, updated=0)
    assert mobile_of(db, CITIZEN) == "+966512345678"
    assert mobile_of(db, RESIDENT) is None  # empty: none known


def test_a_file_without_the_mobile_column_keeps_stored_mobiles(services, db):
    import_csv(services.db, io.BytesIO(csv_bytes(GOOD_ROWS[0] + ",0512345678", header=HEADER + ",mobile")))
    import_csv(services.db, io.BytesIO(csv_bytes(GOOD_ROWS[0].replace("Sarah", "Sara"))))
    assert mobile_of(db, CITIZEN) == "+966512345678"
    import_csv(services.db, io.BytesIO(csv_bytes(GOOD_ROWS[0] + ",", header=HEADER + ",mobile")))
    assert mobile_of(db, CITIZEN) is None  # the registry says it has none now


@pytest.mark.parametrize("mobile", ["12345", "0412345678", "+1 555 0100", "05123456789"])
def test_a_bad_mobile_names_its_line(services, db, people, mobile):
    data = csv_bytes(GOOD_ROWS[0] + ",0512345678", GOOD_ROWS[1] + f",{mobile}", header=HEADER + ",mobile")
    with pytest.raises(ValidationError) as raised:
        import_csv(services.db, io.BytesIO(data))
    assert raised.value.message.startswith("line 3: mobile must be a Saudi mobile number")
    assert count(db) == 3
