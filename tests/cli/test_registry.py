"""idp registry …: through the CLI, as an administrator uses it."""
import json

import pytest
from sqlalchemy import func, select

from idp.identity.national_id import is_valid
from idp.identity.registry import COLUMNS
from idp.models import AuditEvent, RegistryPerson
from tests.conftest import make_national_id

HEADER = ",".join(COLUMNS)
CITIZEN = make_national_id("1", 7001)
GOOD = f"{HEADER}\n{CITIZEN},1975-06-01,M,فيصل سعود الحربي,Faisal Saud Alharbi,SAU\n"


def idp(runner, *args, input=None):
    return runner.invoke(args=["idp", "registry", *args], input=input)


def one_line_error(result, message):
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], result.output
    assert "Traceback" not in result.output


def people_count(db):
    return db.scalar(select(func.count()).select_from(RegistryPerson))


def test_import_prints_counts(runner, db, tmp_path):
    path = tmp_path / "people.csv"
    path.write_text(GOOD, encoding="utf-8")
    result = idp(runner, "import", str(path))
    assert result.exit_code == 0, result.output
    assert result.output == "1 people: 1 added, 0 updated\n"
    again = idp(runner, "import", str(path), "--json")
    assert json.loads(again.output) == {"rows": 1, "inserted": 0, "updated": 1}
    assert db.get(RegistryPerson, CITIZEN).name_en == "Faisal Saud Alharbi"
    assert db.scalar(select(func.count()).where(AuditEvent.kind == "admin.registry_imported")) == 2


def test_import_from_stdin(runner, db):
    result = idp(runner, "import", "-", "--json", input=GOOD.encode())
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["inserted"] == 1


@pytest.mark.parametrize(("content", "message"), [
    (GOOD + f"{CITIZEN[:9]}0,1975-06-01,M,ب,B,SAU\n", "line 3: national_id fails the check digit"),
    (GOOD + f"{make_national_id('1', 7002)},1975-13-01,M,ب,B,SAU\n", "line 3: birth_date must be"),
    (GOOD.replace("nationality", "country"), "line 1: missing column(s) nationality"),
    ("", "line 1: expected the header"),
])
def test_a_bad_file_is_one_line_and_imports_nothing(runner, db, tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_text(content, encoding="utf-8")
    one_line_error(idp(runner, "import", str(path)), message)
    assert people_count(db) == 0


def test_a_missing_file_is_one_line(runner, tmp_path):
    one_line_error(idp(runner, "import", str(tmp_path / "absent.csv")), "cannot read")


def test_seed(runner, db):
    result = idp(runner, "seed", "--count", "25", "--seed", "9", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {"added": 25}
    ids = db.scalars(select(RegistryPerson.national_id)).all()
    assert len(ids) == 25 and all(is_valid(national_id) for national_id in ids)
    assert idp(runner, "seed", "--count", "5").output == "5 people added\n"


@pytest.mark.parametrize("count", ["0", "10000001", "many"])
def test_seed_count_out_of_range(runner, db, count):
    result = idp(runner, "seed", "--count", count)
    assert result.exit_code == 2 and "--count" in result.output  # click's usage error
    assert people_count(db) == 0


def test_show(runner, people):
    person = people["resident"]
    result = idp(runner, "show", person.national_id, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {
        "national_id": person.national_id, "id_type": "resident", "name_ar": "أحمد خان",
        "name_en": "Ahmed Khan", "birth_date": "1985-12-31", "gender": "M", "nationality": "PAK",
        "mobile": None}
    text = idp(runner, "show", person.national_id).output
    assert "Ahmed Khan" in text and "1985-12-31" in text


def test_show_accepts_arabic_digits(runner, people):
    arabic = people["citizen"].national_id.translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))
    assert "Mohammed Abdullah Alqahtani" in idp(runner, "show", arabic).output


@pytest.mark.parametrize(("national_id", "message"), [
    (make_national_id("1", 9999), "no person with that national ID"),
    ("12345", "valid 10-digit national ID"),
])
def test_show_unknown_or_invalid_is_one_line(runner, people, national_id, message):
    one_line_error(idp(runner, "show", national_id), message)


def test_import_with_the_optional_mobile_column(runner, db, tmp_path):
    from idp.models import RegistryPerson
    from tests.conftest import make_national_id

    nid = make_national_id("1", 7001)
    path = tmp_path / "people.csv"
    path.write_text("national_id,birth_date,gender,name_ar,name_en,nationality,mobile\n"
                    f"{nid},1990-01-01,M,سعد,Saad,SAU,0512345678\n", encoding="utf-8")
    result = idp(runner, "import", str(path))
    assert result.exit_code == 0, result.output
    assert db.get(RegistryPerson, nid).mobile == "+966512345678"
    assert json.loads(idp(runner, "show", nid, "--json").output)["mobile"] == "+966512345678"
